"""Every error policy on every stage kind, through a real run on both backends.

One pipe chains the four kinds of stage (a local per-item handler, a local batch
handler, a compute stage, a router); each fails one record of its own, and the
per-item stage also fails record 5 on its first attempt only. One policy is set for
every stage (``"*"``), and the run shows what it does with each failure, the same in
both delivery modes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from slither_stream.item import Item
from slither_stream.log import Log
from slither_stream.pipe import Pipe, PipeRunError, Runner, retry
from slither_stream.pipe.engine.dlq import DeadLetter
from slither_stream.policies import ErrorPolicy
from tests.e2e.helpers import read_topic

Names = Callable[[str], str]
pytestmark = pytest.mark.parametrize("delivery", ["at_least_once", "exactly_once"])
_first_attempts: set[tuple[str, int]] = set()


def per_item(item: Item, _ctx: Any) -> Any:
    n = item.payload["n"]
    if n == 1:
        raise ValueError("one fails")
    if n == 5 and (item.payload["run"], n) not in _first_attempts:
        _first_attempts.add((item.payload["run"], n))
        raise TimeoutError("five fails once")
    return item.payload


def per_batch(items: list[Item], _ctx: Any) -> list[Any]:
    return [KeyError("two fails") if item.payload["n"] == 2 else item.payload
            for item in items]


def compute(payloads: list[dict[str, Any]]) -> list[dict[str, Any]]:
    if any(payload["n"] == 3 for payload in payloads):
        raise ArithmeticError("three fails")
    return payloads


def routed(item: Item) -> bool:
    if item.payload["n"] == 4:
        raise LookupError("four fails")
    return True


def chain(name: str, policy: str | ErrorPolicy, delivery: str) -> Pipe:
    pipe = Pipe(name, partitions=1, delivery=delivery)  # type: ignore[arg-type]
    pipe.local("one", per_item, batch_size=4)
    pipe.local("two", batch_handler=per_batch, batch_size=4)
    pipe.compute("three", compute, executor="inline", batch_size=4)
    pipe.router("four", [(routed, "out")])
    pipe.outputs("out")
    pipe.on_error("*", policy)
    return pipe


def run(log: Log, name: str, policy: str | ErrorPolicy, delivery: str
        ) -> dict[str, list[Item]]:
    inputs = [{"n": n, "run": name} for n in range(10)]
    return Runner.run(chain(name, policy, delivery), inputs, log=log, namespace=name,
                      timeout=120)


def dead_letters(log: Log, name: str) -> dict[str, list[tuple[int, str, int]]]:
    found = {}
    for stage in ("one", "two", "three", "four"):
        letters = [DeadLetter.from_record(r) for r in read_topic(log, f"{name}.{stage}.dlq")]
        found[stage] = sorted((letter.offset, letter.error_type, letter.attempts)
                              for letter in letters)
    return found


def delivered(outputs: dict[str, list[Item]]) -> list[int]:
    return sorted(item.payload["n"] for item in outputs["out"])


def test_skip_drops_every_failure(log: Log, unique_name: Names, delivery: str) -> None:
    name = unique_name("skip")
    assert delivered(run(log, name, "skip", delivery)) == [0, 6, 7, 8, 9]
    assert all(not letters for letters in dead_letters(log, name).values())


def test_dead_letter_keeps_every_failure_with_its_stage_and_error(
        log: Log, unique_name: Names, delivery: str) -> None:
    name = unique_name("dlq")
    assert delivered(run(log, name, "dead_letter", delivery)) == [0, 6, 7, 8, 9]
    # each dead letter is its stage's input record (offsets of that stage's input)
    assert dead_letters(log, name) == {
        "one": [(1, "ValueError", 1), (5, "TimeoutError", 1)],
        "two": [(1, "KeyError", 1)],  # offset 1 of each stage's input: its record
        "three": [(1, "ArithmeticError", 1)],
        "four": [(1, "LookupError", 1)],
    }


def test_retry_recovers_a_transient_failure_then_dead_letters(
        log: Log, unique_name: Names, delivery: str) -> None:
    name = unique_name("retry")
    policy = retry(3, backoff=0.01, then="dead_letter")
    assert delivered(run(log, name, policy, delivery)) == [0, 5, 6, 7, 8, 9]
    assert dead_letters(log, name) == {
        "one": [(1, "ValueError", 3)],
        "two": [(1, "KeyError", 3)],
        "three": [(1, "ArithmeticError", 3)],
        "four": [(1, "LookupError", 3)],
    }


def test_halt_stops_the_first_stage_at_its_failure(log: Log, unique_name: Names,
                                                   delivery: str) -> None:
    name = unique_name("halt")
    with pytest.raises(PipeRunError) as caught:
        run(log, name, "halt", delivery)
    assert caught.value.stage == "one"
    assert "halted on record" in str(caught.value) and "@1" in str(caught.value)
    assert delivered(caught.value.partial) in ([], [0])  # nothing past the halt
    assert all(not letters for letters in dead_letters(log, name).values())
