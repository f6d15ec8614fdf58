"""BatchWrites: what a stage writes per outcome, how it counts, where it stops."""

from __future__ import annotations

from typing import Any

import pytest

from slither_stream.errors import SerializationError
from slither_stream.item import Item
from slither_stream.log.types import Record
from slither_stream.pipe import Pipe
from slither_stream.pipe.definition import PipeDefinition
from slither_stream.pipe.engine.envelope import Envelope
from slither_stream.pipe.engine.planning import BatchWrites, emit_targets
from slither_stream.pipe.engine.write_buffer import StateTarget, WriteBuffer
from slither_stream.pipe.results import Emitted, Failure, Outcome, Skip


def _identity(item: Item, _ctx: Any) -> Any:
    return item.payload


def _pipe(policy: str, *, two_stages: bool = False) -> PipeDefinition:
    pipe = Pipe("plan").local("a", _identity)
    if two_stages:
        pipe = pipe.local("b", _identity)
    return pipe.outputs("default", "odd").on_error("a", policy).compile()  # type: ignore[arg-type]


def _records(count: int) -> list[Record]:
    return [Record("plan.a.in", 0, offset, b"k%d" % offset, b"%d" % offset)
            for offset in range(count)]


def _plan(definition: PipeDefinition, outcomes: list[Outcome | None], *,
          decode_errors: dict[int, SerializationError] | None = None,
          items: list[Item] | None = None, **options: Any) -> BatchWrites:
    """Outcomes as a stage that processed the whole batch gives them."""
    stage = definition.stage("a")
    records = _records(len(outcomes))
    errors = decode_errors or {}
    decoded = [errors[n] if n in errors else (items[n] if items else Item(n, n))
               for n in range(len(outcomes))]
    return BatchWrites(stage, emit_targets(definition, stage, Envelope()), records, decoded,
                       outcomes=outcomes, attempts=[1] * len(outcomes), **options)


def test_each_outcome_becomes_its_writes_in_order_and_is_counted() -> None:
    definition = _pipe("dead_letter")
    one, two = Item(1, {"x": 1}, b"k"), Item(2, [2])
    plan = _plan(definition, [
        Emitted((one,)),                       # the default output
        Emitted((two, one), output="odd"),     # two items to a named output
        Skip("not needed"),
        Failure("ValueError", "bad"),       # routed to the dead letters
        None,                               # could not be decoded
        Emitted(()),                           # emitted nothing: counts as skipped
    ], decode_errors={4: SerializationError("truncated JSON")})
    writes = list(plan)
    assert [(topic, value) for topic, value, _key, _headers in writes] == [
        ("plan.out.default", b'{"x":1}'), ("plan.out.odd", b"[2]"),
        ("plan.out.odd", b'{"x":1}'), ("plan.a.dlq", b"3"), ("plan.a.dlq", b"4")]
    assert writes[0][2] == b"k" and dict(writes[0][3]) == {"slither.id": b"1"}
    dlq_headers = dict(writes[4][3])
    assert dlq_headers["slither.dlq.error_type"] == b"SerializationError"
    assert b"truncated JSON" in dlq_headers["slither.dlq.message"]
    tally = plan.tally
    assert (tally.consumed, tally.skipped, tally.dead_lettered, tally.forwarded) == (6, 2, 2, 0)
    assert tally.outputs == {"default": 1, "odd": 2}
    assert list(plan.done) == plan.records


def test_items_to_the_next_stage_count_as_forwarded() -> None:
    plan = _plan(_pipe("dead_letter", two_stages=True),
                 [Emitted((Item(1, 1),)), Emitted((Item(2, 2),))])
    assert [topic for topic, *_ in plan] == ["plan.b.in", "plan.b.in"]
    assert (plan.tally.forwarded, plan.tally.outputs) == (2, {})


def test_halt_stops_before_the_failed_record() -> None:
    plan = _plan(_pipe("halt"), [Emitted((Item(1, 1),)), Failure("KeyError", "gone"),
                                 Emitted((Item(3, 3),))])
    assert [value for _topic, value, *_ in plan] == [b"1"]
    assert plan.halted is not None and plan.halted[0].offset == 1
    assert [r.offset for r in plan.done] == [0] and plan.tally.consumed == 1


def test_an_item_that_cannot_be_encoded_fails_its_whole_outcome() -> None:
    plan = _plan(_pipe("dead_letter"),
                 [Emitted((Item(1, 1), Item(2, {1, 2}))), Emitted((Item(3, 3),))])
    writes = list(plan)
    assert [topic for topic, *_ in writes] == ["plan.a.dlq", "plan.out.default"]
    assert b"output topic plan.out.default" in dict(writes[0][3])["slither.dlq.message"]


def test_an_undeclared_output_is_a_failure_naming_it() -> None:
    plan = _plan(_pipe("skip"), [Emitted((Item(1, 1),), output="nowhere")])
    assert list(plan) == [] and plan.tally.skipped == 1


class _Table(StateTarget):
    topic = "plan.store.t"

    def read(self, key: bytes) -> bytes | None:
        return None

    def committed(self, entries: dict[bytes, bytes | None]) -> None:
        raise AssertionError("BatchWrites never commits")


def test_state_writes_stand_with_an_emit_or_skip_and_fall_with_a_failure() -> None:
    """Each attempt at a record stages its writes; BatchWrites keeps them when the
    record is emitted or skipped, and drops them when it fails (dead-lettered here),
    also the writes of failed attempts before a retry succeeded."""
    definition = (Pipe("plan").local("a", _identity).outputs("default")
                  .on_error("a", "retry", max_attempts=2, then="dead_letter").compile())
    buffer, table = WriteBuffer(), _Table()
    attempts: dict[int, int] = {}

    def handler(item: Item) -> Any:
        attempts[item.id] = attempts.get(item.id, 0) + 1
        buffer.write(table, b"k%d" % item.id, b"%d" % attempts[item.id])
        assert buffer.read(table, b"k%d" % item.id) == b"%d" % attempts[item.id]
        if item.id == 0:
            return item.payload
        if item.id == 1:
            return Skip("filtered, but remembered")
        if item.id == 2 and attempts[2] == 1:
            return Failure("TimeoutError", "first attempt")  # the retry succeeds
        if item.id == 3:
            return Failure("ValueError", "never")
        return item.payload

    stage = definition.stage("a")
    plan = BatchWrites(stage, emit_targets(definition, stage, Envelope()), _records(4),
                       [Item(n, n) for n in range(4)], process_one=handler, staging=buffer)
    assert [topic for topic, *_ in plan] == ["plan.out.default", "plan.out.default",
                                             "plan.a.dlq"]
    assert sorted(buffer.changelog()) == [("plan.store.t", None, b"k0", b"1"),
                                          ("plan.store.t", None, b"k1", b"1"),
                                          ("plan.store.t", None, b"k2", b"2")]
    assert (plan.tally.consumed, plan.tally.skipped, plan.tally.dead_lettered) == (4, 1, 1)


def _one_at_a_time(definition: PipeDefinition, decoded: list[Item | SerializationError],
                   process_one: Any) -> BatchWrites:
    stage = definition.stage("a")
    return BatchWrites(stage, emit_targets(definition, stage, Envelope()),
                       _records(len(decoded)), decoded, process_one=process_one)


def test_one_at_a_time_retries_each_item_as_the_policy_says() -> None:
    definition = (Pipe("plan").local("a", _identity).outputs("default")
                  .on_error("a", "retry", max_attempts=3, then="dead_letter").compile())
    calls: list[int] = []

    def flaky(item: Item) -> Outcome:
        calls.append(item.id)
        if item.id == 1 and calls.count(1) < 3:
            return Failure("TimeoutError", "slow")  # succeeds on its third attempt
        if item.id == 2:
            return Failure("ValueError", "never")
        return Emitted((item,))

    plan = _one_at_a_time(definition, [Item(0, 0), Item(1, 1), Item(2, 2),
                                       SerializationError("bad")], flaky)
    writes = list(plan)
    assert calls == [0, 1, 1, 1, 2, 2, 2]  # one item at a time, never a decode failure
    assert [topic for topic, *_ in writes] == [
        "plan.out.default", "plan.out.default", "plan.a.dlq", "plan.a.dlq"]
    assert dict(writes[2][3])["slither.dlq.attempts"] == b"3"
    assert dict(writes[3][3])["slither.dlq.attempts"] == b"1"
    assert (plan.tally.consumed, plan.tally.dead_lettered) == (4, 2)


def test_one_at_a_time_stops_processing_at_the_halting_record() -> None:
    calls: list[int] = []

    def halting(item: Item) -> Outcome:
        calls.append(item.id)
        return Failure("KeyError", "x") if item.id == 1 else Emitted((item,))

    plan = _one_at_a_time(_pipe("halt"), [Item(n, n) for n in range(4)], halting)
    assert len(list(plan)) == 1
    assert calls == [0, 1]  # the records after the halting one are not processed
    assert plan.halted is not None and [r.offset for r in plan.done] == [0]


def test_a_batch_gets_its_outcomes_or_a_function_not_both() -> None:
    definition = _pipe("dead_letter")
    stage = definition.stage("a")
    with pytest.raises(ValueError, match="not both or neither"):
        BatchWrites(stage, emit_targets(definition, stage, Envelope()), [], [])


def test_an_item_returned_as_its_own_outcome_goes_to_the_default_target() -> None:
    """The short path of a per-item function: the item itself, no Emit around it."""
    def same(item: Item) -> Outcome | Item:
        return item if item.id % 2 else Skip("even")

    plan = _one_at_a_time(_pipe("dead_letter"), [Item(n, {"n": n}) for n in range(5)], same)
    writes = list(plan)
    assert [(topic, value) for topic, value, *_ in writes] == [
        ("plan.out.default", b'{"n":1}'), ("plan.out.default", b'{"n":3}')]
    assert (plan.tally.consumed, plan.tally.skipped, plan.tally.outputs) == (
        5, 3, {"default": 2})

    forwarded = _one_at_a_time(_pipe("dead_letter", two_stages=True), [Item(1, 1)], same)
    assert [topic for topic, *_ in forwarded] == ["plan.b.in"]
    assert (forwarded.tally.forwarded, forwarded.tally.outputs) == (1, {})


def test_new_payloads_written_at_once_are_counted_up_to_a_halt() -> None:
    """New payloads (a dict, a list, a number) take the short write and are counted
    at the end of the loop, with the other outcomes, and not past a halting record."""
    def mixed(item: Item) -> Any:
        kinds: dict[int, Any] = {0: {"n": 0}, 1: Skip("no"), 2: [2], 3: 3.5,
                                 4: Emitted((item,), output="odd"), 5: {"n": 5},
                                 6: Failure("KeyError", "x"), 7: {"n": 7}}
        return kinds[item.id]

    plan = _one_at_a_time(_pipe("halt"), [Item(n, n) for n in range(8)], mixed)
    writes = list(plan)
    assert [(topic, value) for topic, value, *_ in writes] == [
        ("plan.out.default", b'{"n":0}'), ("plan.out.default", b"[2]"),
        ("plan.out.default", b"3.5"), ("plan.out.odd", b"4"),
        ("plan.out.default", b'{"n":5}')]
    assert plan.halted is not None and plan.halted[0].offset == 6
    assert [r.offset for r in plan.done] == [0, 1, 2, 3, 4, 5]
    assert (plan.tally.consumed, plan.tally.skipped, plan.tally.outputs) == (
        6, 1, {"default": 4, "odd": 1})
