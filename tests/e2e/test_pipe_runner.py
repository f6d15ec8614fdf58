"""Runner end to end on both log backends: routes, 1:many, error policies, DLQ."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from slither_stream import telemetry
from slither_stream.item import Item
from slither_stream.log import Log
from slither_stream.pipe import Pipe
from slither_stream.pipe.deploy.runner import PipeRunError, Runner
from slither_stream.pipe.engine.dlq import DeadLetter
from tests.e2e import pipes
from tests.e2e.helpers import read_topic

Names = Callable[[str], str]


def expected_split(values: list[int]) -> dict[str, list[int]]:
    """The toy pipe computed independently: x -> (x + 1) ** 2, then routed."""
    split: dict[str, list[int]] = {"big": [], "even": [], "default": []}
    for x in values:
        y = (x + 1) ** 2
        split["big" if y >= 10 else "even" if y % 2 == 0 else "default"].append(y)
    return split


@pytest.mark.parametrize("delivery", ["at_least_once", "exactly_once"])
def test_routes_match_independent_split(log: Log, unique_name: Names, delivery: str) -> None:
    values = list(range(-6, 14))
    outputs = Runner.run(pipes.scoring_like(delivery=delivery), [{"x": x} for x in values],
                         log=log, namespace=unique_name("toy"), timeout=90)
    got = {name: sorted(item.payload["x"] for item in items) for name, items in outputs.items()}
    assert got == {name: sorted(v) for name, v in expected_split(values).items()}


def test_ids_and_per_key_order_are_preserved(log: Log, unique_name: Names) -> None:
    pipe = Pipe("order", partitions=3).local("inc", pipes.add_one)
    inputs = [Item(id=1000 + i, payload={"x": i, "k": f"key{i % 4}"}, key=f"key{i % 4}")
              for i in range(40)]
    outputs = Runner.run(pipe, inputs, log=log, namespace=unique_name("order"), timeout=90)
    items = outputs["default"]
    assert sorted(item.id for item in items) == [1000 + i for i in range(40)]
    for key in ("key0", "key1", "key2", "key3"):
        xs = [item.payload["x"] for item in items if item.key == key]
        assert xs == sorted(xs) and len(xs) == 10


def test_one_to_many_expansion(log: Log, unique_name: Names) -> None:
    pipe = Pipe("claims", partitions=2)
    pipe.local("split", pipes.split_words, cardinality="many")
    texts = ["a b c", "", "d e", "f"]
    outputs = Runner.run(pipe, [{"text": t} for t in texts], log=log,
                         namespace=unique_name("claims"), timeout=90)
    words = outputs["default"]
    assert sorted(item.payload for item in words) == ["a", "b", "c", "d", "e", "f"]
    parents = {item.meta["parent_id"] for item in words}
    assert len(parents) == 3  # the empty text produced no children


def test_skip_policy_drops_only_failing_items(log: Log, unique_name: Names) -> None:
    pipe = Pipe("skipper", partitions=2).local("check", pipes.fail_on_seven)
    pipe.on_error("check", "skip")
    outputs = Runner.run(pipe, [{"x": x} for x in range(10)], log=log,
                         namespace=unique_name("skipper"), timeout=90)
    assert sorted(item.payload["x"] for item in outputs["default"]) == \
        [0, 1, 2, 3, 4, 5, 6, 8, 9]


def test_route_policy_sends_failures_to_dlq_with_headers(log: Log, unique_name: Names) -> None:
    namespace = unique_name("router")
    pipe = Pipe("router", partitions=1).local("check", pipes.fail_on_seven)
    pipe.on_error("*", "dead_letter")
    outputs = Runner.run(pipe, [{"x": x} for x in range(10)], log=log,
                         namespace=namespace, timeout=90)
    assert len(outputs["default"]) == 9
    letters = [DeadLetter.from_record(r) for r in read_topic(log, f"{namespace}.check.dlq")]
    assert len(letters) == 1
    letter = letters[0]
    assert letter.stage == "check"
    assert letter.error_type == "ValueError"
    assert "seven is not allowed" in letter.message
    assert letter.attempts == 1
    assert (letter.topic, letter.partition, letter.offset) == (f"{namespace}.check.in", 0, 7)
    assert letter.value == b'{"x":7}'


def test_retry_policy_retries_then_routes(log: Log, unique_name: Names) -> None:
    namespace = unique_name("retry")
    flaky = pipes.Flaky(failures=2)
    pipe = Pipe("retry", partitions=1).local("flaky", flaky)
    pipe.on_error("flaky", "retry", max_attempts=3, then="dead_letter")
    outputs = Runner.run(pipe, [{"x": x} for x in range(7)], log=log, namespace=namespace,
                         timeout=90)
    # multiples of 3 fail twice and succeed on the third attempt
    assert sorted(item.payload["x"] for item in outputs["default"]) == list(range(7))
    assert flaky.calls[3] == 3 and flaky.calls[1] == 1

    namespace = unique_name("retry2")
    stubborn = pipes.Flaky(failures=5)
    pipe = Pipe("retry", partitions=1).local("flaky", stubborn)
    pipe.on_error("flaky", "retry", max_attempts=2, then="dead_letter")
    outputs = Runner.run(pipe, [{"x": x} for x in range(5)], log=log, namespace=namespace,
                         timeout=90)
    assert sorted(item.payload["x"] for item in outputs["default"]) == [1, 2, 4]
    letters = [DeadLetter.from_record(r) for r in read_topic(log, f"{namespace}.flaky.dlq")]
    assert sorted(letter.offset for letter in letters) == [0, 3]
    assert {letter.attempts for letter in letters} == {2}


@pytest.mark.parametrize("delivery", ["at_least_once", "exactly_once"])
def test_halt_stops_with_offsets_committed_to_last_good_record(
        log: Log, unique_name: Names, delivery: str) -> None:
    namespace = unique_name("halter")
    pipe = Pipe("halter", partitions=1, delivery=delivery)  # type: ignore[arg-type]
    pipe.local("check", pipes.fail_on_seven, batch_size=3)
    with pytest.raises(PipeRunError, match="halted on record") as raised:
        Runner.run(pipe, [{"x": x} for x in range(10)], log=log, namespace=namespace,
                   timeout=90)
    assert raised.value.stage == "check"
    input_topic = f"{namespace}.check.in"
    committed = log.committed_offsets(f"{namespace}.check", log.partitions_of(input_topic))
    assert list(committed.values()) == [7]
    written = read_topic(log, f"{namespace}.out.default")
    assert [r.value for r in written] == [f'{{"x":{x}}}'.encode() for x in range(7)]


def test_run_telemetry_and_default_embedded_log() -> None:
    events: list[tuple[tuple[str, ...], dict[str, object]]] = []
    telemetry.attach_many("test-runner", [(*telemetry.PIPE_RUN, "start"),
                                          (*telemetry.PIPE_RUN, "stop"),
                                          (*telemetry.PIPE_STAGE, "stop")],
                          lambda event, _m, meta: events.append((event, meta)))
    try:
        outputs = Runner.run(pipes.scoring_like(), [{"x": x} for x in range(5)],
                             session_id="s-123", timeout=60)
    finally:
        telemetry.detach("test-runner")
    assert sum(len(v) for v in outputs.values()) == 5
    runs = [meta for event, meta in events if event[2] == "run"]
    assert runs[0] == {"pipe": "toy", "input_count": 5, "session_id": "s-123"}
    assert len(runs) == 2
    stages = {meta["stage"] for event, meta in events if event[2] == "stage"}
    assert stages == {"inc", "square", "route"}


def test_malformed_json_goes_to_dlq_and_the_rest_flows(log: Log, unique_name: Names) -> None:
    namespace = unique_name("raw")
    pipe = Pipe("raw", partitions=1).local("inc", pipes.add_one)
    inputs = [b'{"x": 1}', b'{"x": 2', b"\xff\xfe", b'{"x": 3}']
    outputs = Runner.run(pipe, inputs, log=log, namespace=namespace, timeout=90)
    assert sorted(item.payload["x"] for item in outputs["default"]) == [2, 4]
    letters = [DeadLetter.from_record(r) for r in read_topic(log, f"{namespace}.inc.dlq")]
    assert [(letter.offset, letter.value) for letter in letters] == \
        [(1, b'{"x": 2'), (2, b"\xff\xfe")]
    assert {letter.error_type for letter in letters} == {"SerializationError"}
    assert "truncated JSON" in letters[0].message
    assert "invalid UTF-8" in letters[1].message
    assert all(letter.topic == f"{namespace}.inc.in" and letter.stage == "inc"
               for letter in letters)


@pytest.mark.parametrize("executor", ["inline", "processes"])
def test_compute_stage_executors(unique_name: Names, executor: str) -> None:
    pipe = Pipe("exec", partitions=2)
    pipe.compute("square", "tests.e2e.pipes:square_batch", batch_size=3, max_in_flight=2,
                 executor=executor, processes=2)
    outputs = Runner.run(pipe, [{"x": x} for x in range(12)], timeout=120)
    assert sorted(item.payload["x"] for item in outputs["default"]) == \
        sorted(x * x for x in range(12))


def test_failing_compute_batch_dead_letters_only_the_bad_items(
        log: Log, unique_name: Names) -> None:
    namespace = unique_name("isolate")
    pipe = Pipe("isolate", partitions=1)
    pipe.compute("check", "tests.pipe.helpers:explode_on_negative", batch_size=4,
                 executor="inline")
    pipe.on_error("check", "dead_letter")
    values = [1, 2, -3, 4, 5, 6, 7, -8, 9]
    outputs = Runner.run(pipe, [{"x": x} for x in values], log=log, namespace=namespace,
                         timeout=90)
    assert sorted(item.payload["x"] for item in outputs["default"]) == \
        [x for x in values if x > 0]
    letters = [DeadLetter.from_record(r) for r in read_topic(log, f"{namespace}.check.dlq")]
    assert sorted(letter.offset for letter in letters) == [2, 7]
    assert {letter.error_type for letter in letters} == {"ValueError"}
