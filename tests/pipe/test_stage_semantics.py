from __future__ import annotations

from typing import Any

import pytest

from slither_stream.context import Context
from slither_stream.item import Item
from slither_stream.pipe import PER_ITEM, Emit, Failure, Pipe, Skip
from slither_stream.pipe.engine.processors import processor_for
from slither_stream.pipe.results import Emitted, as_outcome, interpret

CTX = Context(pipe="t")


def items(*payloads: Any) -> list[Item]:
    return [Item(id=100 + i, payload=p, key=f"k{i}", meta={"src": i})
            for i, p in enumerate(payloads)]


def test_bare_value_becomes_payload_keeping_id_key_meta() -> None:
    item = Item(id=7, payload=1, key="a", meta={"m": 1})
    outcome = interpret(item, 2)
    assert outcome == Emitted((Item(id=7, payload=2, key="a", meta={"m": 1}),))


def test_typed_results() -> None:
    item = Item(id=1, payload=1, key="k", meta={"m": 1})
    assert interpret(item, Emit(5)) == Emitted((Item(1, 5, "k", {"m": 1}),))
    routed = interpret(item, Emit({"a": 1}, output="special"))
    assert routed == Emitted((Item(1, {"a": 1}, "k", {"m": 1}),), "special")
    many = interpret(item, Emit.many(["x", "y"], output="words"))
    assert isinstance(many, Emitted) and many.output == "words"
    assert [(c.payload, c.key, c.meta["parent_id"], c.meta["index"]) for c in many.items] \
        == [("x", "k", 1, 0), ("y", "k", 1, 1)]
    assert interpret(item, Skip("too small")) == Skip("too small")
    assert interpret(item, Emit.many([])) == Emitted(())
    assert repr(Emit(3, output="o")) == "Emit(3, output='o')"
    bad = interpret(item, Emit(1, output=7))  # type: ignore[arg-type]
    assert isinstance(bad, Failure) and "output name" in bad.message


def test_tagged_tuples_still_work_and_warn() -> None:
    item = Item(id=1, payload=1)
    with pytest.warns(DeprecationWarning, match="tagged tuple results"):
        ok = interpret(item, ("ok", 5))
    assert isinstance(ok, Emitted) and ok.items[0].payload == 5 and ok.output is None
    with pytest.warns(DeprecationWarning):
        assert interpret(item, ("skip", "too small")) == Skip("too small")
        failed = interpret(item, ("error", "invalid"))
    assert isinstance(failed, Failure) and failed.message == "invalid"
    with pytest.warns(DeprecationWarning):
        routed = interpret(item, ("route", "special", 9))
    assert isinstance(routed, Emitted) and routed.output == "special"
    assert routed.items[0].payload == 9 and routed.items[0].id == 1
    # a tuple that is not a known tag is a plain payload
    plain = interpret(item, ("hello", 1))
    assert isinstance(plain, Emitted) and plain.items[0].payload == ("hello", 1)


def test_cardinality_many_expands_with_parent_and_key() -> None:
    parent = Item(id=5, payload="a b c", key="doc1", meta={"lang": "en"})
    outcome = interpret(parent, ["a", "b", "c"], cardinality="many")
    assert isinstance(outcome, Emitted)
    assert [child.payload for child in outcome.items] == ["a", "b", "c"]
    assert all(child.key == "doc1" for child in outcome.items)
    assert [child.meta["index"] for child in outcome.items] == [0, 1, 2]
    assert all(child.meta["parent_id"] == 5 and child.meta["lang"] == "en"
               for child in outcome.items)
    assert len({child.id for child in outcome.items}) == 3
    empty = interpret(parent, [], cardinality="many")
    assert empty == Emitted(())
    wrong = interpret(parent, "not a list", cardinality="many")
    assert isinstance(wrong, Failure) and "must return a list" in wrong.message


def test_local_processor_per_item_preserves_order_and_catches_errors() -> None:
    def handler(item: Item, ctx: Context) -> Any:
        if item.payload == 3:
            raise ZeroDivisionError("three")
        if item.payload == 4:
            return Skip("four")
        return item.payload * 10

    plan = Pipe("t").local("s", handler).compile().stage("s")
    outcomes = processor_for(plan).process(items(1, 2, 3, 4, 5), CTX)
    assert [type(o).__name__ for o in outcomes] == [
        "Emitted", "Emitted", "Failure", "Skip", "Emitted"]
    assert [o.items[0].payload for o in outcomes if isinstance(o, Emitted)] == [10, 20, 50]
    assert [o.items[0].id for o in outcomes if isinstance(o, Emitted)] == [100, 101, 104]
    failure = outcomes[2]
    assert isinstance(failure, Failure) and failure.error_type == "ZeroDivisionError"
    assert "three" in failure.message and "Traceback" in failure.detail


def test_batch_handler_replaces_per_item_calls() -> None:
    calls: list[int] = []

    def handler(item: Item, ctx: Context) -> Any:
        calls.append(item.id)
        return item.payload

    def batch(batch_items: list[Item], ctx: Context) -> Any:
        return [item.payload + 1 for item in batch_items]

    plan = Pipe("t").local("s", handler, batch_handler=batch).compile().stage("s")
    outcomes = processor_for(plan).process(items(1, 2), CTX)
    assert [o.items[0].payload for o in outcomes if isinstance(o, Emitted)] == [2, 3]
    assert calls == []

    def fallback(batch_items: list[Item], ctx: Context) -> Any:
        return PER_ITEM

    plan = Pipe("t").local("s", handler, batch_handler=fallback).compile().stage("s")
    processor_for(plan).process(items(1, 2), CTX)
    assert calls == [100, 101]

    def wrong_length(batch_items: list[Item], ctx: Context) -> Any:
        return [1]

    plan = Pipe("t").local("s", batch_handler=wrong_length).compile().stage("s")
    outcomes = processor_for(plan).process(items(1, 2), CTX)
    assert all(isinstance(o, Failure) and "1 results for 2 items" in o.message
               for o in outcomes)


def test_router_first_match_wins_unmatched_to_default() -> None:
    pipe = Pipe("t").router("r", [
        (lambda item: item.payload > 10, "big"),
        (lambda item: item.payload > 5, "medium"),
    ]).outputs("big", "medium")
    outcomes = processor_for(pipe.compile().stage("r")).process(items(20, 7, 1), CTX)
    assert [o.output for o in outcomes if isinstance(o, Emitted)] == ["big", "medium", "default"]
    assert [o.items[0].route for o in outcomes if isinstance(o, Emitted)] == \
        ["big", "medium", "default"]


def test_compute_processor_batches_in_order_and_fails_whole_batch() -> None:
    pipe = Pipe("t").compute("c", "tests.pipe.helpers:double_batch", batch_size=2,
                             max_in_flight=3)
    processor = processor_for(pipe.compile().stage("c"))
    try:
        outcomes = processor.process(items(*({"x": i} for i in range(7))), CTX)
        assert [o.items[0].payload["x"] for o in outcomes if isinstance(o, Emitted)] == \
            [0, 2, 4, 6, 8, 10, 12]
        assert [o.items[0].id for o in outcomes if isinstance(o, Emitted)] == \
            list(range(100, 107))
    finally:
        processor.close()
    pipe = Pipe("t").compute("c", "tests.pipe.helpers:explode_on_negative", batch_size=2)
    processor = processor_for(pipe.compile().stage("c"))
    outcomes = processor.process(items({"x": 1}, {"x": -1}, {"x": 2}), CTX)
    # the failed batch [1, -1] is retried item by item: only -1 fails on its own
    assert [type(o).__name__ for o in outcomes] == ["Emitted", "Failure", "Emitted"]
    assert isinstance(outcomes[1], Failure) and outcomes[1].error_type == "ValueError"
    processor.close()
    pipe = Pipe("t").compute("c", "tests.pipe.helpers:explode_on_negative", batch_size=2,
                             isolate_failures=False)
    processor = processor_for(pipe.compile().stage("c"))
    outcomes = processor.process(items({"x": 1}, {"x": -1}, {"x": 2}), CTX)
    assert [type(o).__name__ for o in outcomes] == ["Failure", "Failure", "Emitted"]
    processor.close()
    pipe = Pipe("t").compute("c", "tests.pipe.helpers:short_batch")
    outcomes = processor_for(pipe.compile().stage("c")).process(items({"x": 1}, {"x": 2}), CTX)
    assert all(isinstance(o, Failure) and "returned 0 results" in o.message for o in outcomes)


def test_compute_key_partitioned_batches_one_key_per_batch() -> None:
    seen: list[list[str]] = []

    def record(payloads: list[dict[str, str]]) -> list[dict[str, str]]:
        seen.append([p["k"] for p in payloads])
        return payloads

    pipe = Pipe("t").compute("c", record, batch_size=2, batch_by="key", executor="inline")
    processor = processor_for(pipe.compile().stage("c"))
    batch = [Item(id=i, payload={"k": k}, key=k) for i, k in enumerate("abaab")]
    outcomes = processor.process(batch, CTX)
    assert [o.items[0].id for o in outcomes if isinstance(o, Emitted)] == [0, 1, 2, 3, 4]
    assert all(len(set(keys)) == 1 for keys in seen)
    assert sorted(k for keys in seen for k in keys) == sorted("abaab")


def test_compute_rejects_unknown_and_conflicting_options() -> None:
    import pytest

    from slither_stream.errors import ConfigError

    with pytest.raises(ConfigError, match="unknown option"):
        Pipe("t").compute("c", "tests.pipe.helpers:double_batch", batchsize=3)
    with pytest.raises(ConfigError, match=r"pipe\.on_error"):
        Pipe("t").compute("c", "tests.pipe.helpers:double_batch", on_error="skip")
    with pytest.raises(ConfigError, match="executor must be one of"):
        Pipe("t").compute("c", "tests.pipe.helpers:double_batch", executor="gpu")


def test_which_stages_work_one_item_at_a_time_and_what_they_return() -> None:
    def handler(item: Item, _ctx: Context) -> Any:
        if item.payload == 0:
            raise ZeroDivisionError("zero")
        return Skip("odd") if item.payload % 2 else item.payload * 10

    local = processor_for(Pipe("t").local("s", handler).compile().stage("s"))
    one = local.one_at_a_time(CTX)
    assert one is not None
    first, second, third = items(2, 3, 0)
    assert one(first) == 20  # just the new payload
    assert as_outcome(one(first), first) == Emitted((Item(id=100, payload=20, key="k0",
                                                       meta={"src": 0}),))
    assert one(second) == Skip("odd")
    failed = one(third)
    assert isinstance(failed, Failure) and failed.error_type == "ZeroDivisionError"
    # A typed result comes back as the outcome it stands for.
    routed = processor_for(Pipe("t").local("s", lambda _i, _c: Emit(1, output="o"))
                           .compile().stage("s")).one_at_a_time(CTX)
    assert routed is not None
    assert routed(first) == Emitted((first.update_payload(1),), "o")
    # process() gives the same results, each an Outcome.
    assert local.process([first, second], CTX) == [Emitted((first.update_payload(20),)),
                                                   Skip("odd")]

    batched = Pipe("t").local("s", handler, batch_handler=lambda items, _ctx: items)
    assert processor_for(batched.compile().stage("s")).one_at_a_time(CTX) is None
    compute = processor_for(Pipe("t").compute("c", "tests.pipe.helpers:double_batch")
                            .compile().stage("c"))
    try:
        assert compute.one_at_a_time(CTX) is None
    finally:
        compute.close()
    router = Pipe("t").router("r", [(lambda item: item.payload > 1, "big")]).outputs("big")
    route = processor_for(router.compile().stage("r")).one_at_a_time(CTX)
    assert route is not None and route(first) == Emitted((first.with_route("big"),), "big")
