"""The bounded runner: backpressure, ordering, error policies, telemetry."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from itertools import islice
from typing import Any

import pytest

from slither_stream import dispatch, telemetry
from slither_stream.context import Context
from slither_stream.dispatch.options import DispatchOptions
from slither_stream.errors import ComputeError, DispatchError
from slither_stream.item import Item
from tests.dispatch.funcs import double


class Counting:
    """An endless input that counts how many items were pulled from it."""

    def __init__(self) -> None:
        self.pulled = 0

    def __iter__(self) -> Iterator[int]:
        while True:
            self.pulled += 1
            yield self.pulled


def slow_double(payloads: list[Any]) -> list[Any]:
    time.sleep(0.01)
    return [p * 2 for p in payloads]


def fail_on(bad: set[Any]) -> Any:
    def compute(payloads: list[Any]) -> list[Any]:
        if bad & set(payloads):
            raise ValueError(f"bad payload in {payloads}")
        return [p * 2 for p in payloads]
    return compute


@pytest.mark.parametrize("ordering", ["preserve", "as_completed"])
def test_stream_pulls_at_most_max_in_flight_batches_ahead(ordering: str) -> None:
    source = Counting()
    with dispatch.Threads(slow_double, max_workers=3) as pool:
        results = dispatch.stream(source, executor=pool, batch_size=4, max_in_flight=3,
                                  ordering=ordering)
        assert source.pulled == 0, "nothing is pulled before iteration starts"
        first = next(results)
        assert first.payload % 2 == 0
        assert source.pulled <= 3 * 4
        consumed = 1 + len(list(islice(results, 49)))
        assert consumed == 50
        assert source.pulled - consumed <= 3 * 4
        assert source.pulled >= consumed
        results.close()  # type: ignore[attr-defined]


def test_max_in_flight_bounds_concurrency() -> None:
    lock = threading.Lock()
    running = [0]
    peak = [0]
    started = threading.Barrier(2, timeout=5)

    def track(payloads: list[Any]) -> list[Any]:
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        if payloads[0] < 4:
            started.wait()  # the first two batches prove two really run at once
        time.sleep(0.005)
        with lock:
            running[0] -= 1
        return payloads

    with dispatch.Threads(track, max_workers=8) as pool:
        results = dispatch.run(range(40), executor=pool, batch_size=2, max_in_flight=2)
    assert [r.payload for r in results] == list(range(40))
    assert peak[0] == 2


def test_as_completed_yields_fast_batches_first() -> None:
    release = threading.Event()

    def gated(payloads: list[Any]) -> list[Any]:
        if payloads[0] == 0:
            assert release.wait(5)
        return payloads

    with dispatch.Threads(gated, max_workers=4) as pool:
        stream = dispatch.stream(range(8), executor=pool, batch_size=2, max_in_flight=4,
                                 ordering="as_completed")
        early = [next(stream).payload for _ in range(6)]
        release.set()
        late = [item.payload for item in stream]
    assert sorted(early) == [2, 3, 4, 5, 6, 7]
    assert late == [0, 1]


def test_results_keep_item_identity() -> None:
    items = [Item.wrap(i, key=f"k{i}", meta={"n": i}) for i in range(5)]
    results = dispatch.run(items, executor=dispatch.Inline(double), batch_size=2)
    assert [(r.id, r.key, r.meta, r.payload) for r in results] == [
        (i.id, i.key, i.meta, i.payload * 2) for i in items]


def test_halt_raises_with_partial_results() -> None:
    with pytest.raises(DispatchError) as caught:
        dispatch.run(range(10), executor=dispatch.Inline(fail_on({5})), batch_size=2)
    error = caught.value
    assert [r.payload for r in error.partial] == [0, 2, 4, 6]
    assert isinstance(error.cause, ComputeError)
    assert "batch 3 (2 items)" in str(error)
    assert "ValueError" in str(error)


def test_skip_drops_failed_items_and_reports_them() -> None:
    skipped: list[tuple[list[Item], BaseException]] = []
    events: list[tuple[tuple[str, ...], dict[str, float], dict[str, Any]]] = []
    telemetry.attach("test-skip", dispatch.SKIP_EVENT,
                     lambda e, m, meta: events.append((e, m, meta)))
    try:
        results = dispatch.run(range(10), executor=dispatch.Inline(fail_on({3, 8})),
                               batch_size=2,
                               on_error=dispatch.skip(lambda b, e: skipped.append((b, e))))
    finally:
        telemetry.detach("test-skip")
    assert [r.payload for r in results] == [0, 2, 8, 10, 12, 14]
    assert [[item.payload for item in batch] for batch, _ in skipped] == [[2, 3], [8, 9]]
    first = skipped[0][0][0]
    assert first.meta["error"]["kind"] == "BatchComputeError"
    assert "bad payload" in first.meta["error"]["reason"]
    assert first.meta["error"]["batch_ref"] == 2
    assert isinstance(skipped[0][1], ComputeError)
    assert [meta["batch_ref"] for _, _, meta in events] == [2, 5]
    assert events[0][1]["count"] == 2.0
    assert events[0][2]["item_ids"] == [item.id for item in skipped[0][0]]


def test_retry_really_retries_with_backoff_then_succeeds() -> None:
    calls: list[float] = []

    def flaky(payloads: list[Any]) -> list[Any]:
        calls.append(time.monotonic())
        if len(calls) < 3:
            raise RuntimeError("transient")
        return payloads

    results = dispatch.run([1, 2], executor=dispatch.Inline(flaky),
                           on_error=dispatch.retry(3, backoff=0.05))
    assert [r.payload for r in results] == [1, 2]
    assert len(calls) == 3
    assert calls[1] - calls[0] >= 0.05
    assert calls[2] - calls[1] >= 0.1, "backoff doubles"


def test_retry_exhausted_falls_back_to_the_then_policy() -> None:
    attempts = []

    def broken(payloads: list[Any]) -> list[Any]:
        attempts.append(1)
        raise RuntimeError("always")

    skipped: list[list[Item]] = []
    results = dispatch.run([1, 2, 3], executor=dispatch.Inline(broken), batch_size=3,
                           on_error=dispatch.retry(2, backoff=0,
                                                   then=dispatch.skip(
                                                       lambda b, e: skipped.append(b))))
    assert results == []
    assert len(attempts) == 2
    assert skipped[0][0].meta["error"]["attempts"] == 2
    with pytest.raises(DispatchError, match="after 4 attempt"):
        dispatch.run([1], executor=dispatch.Inline(broken), on_error=dispatch.retry(4, 0))


def test_route_uses_the_compensation_results() -> None:
    seen: list[list[Item]] = []

    def compensate(items: list[Item]) -> list[Any]:
        seen.append(items)
        return [f"fallback-{item.payload}" for item in items]

    results = dispatch.run(range(6), executor=dispatch.Inline(fail_on({2})), batch_size=2,
                           on_error=dispatch.fallback(compensate))
    assert [r.payload for r in results] == [0, 2, "fallback-2", "fallback-3", 8, 10]
    assert [item.payload for item in seen[0]] == [2, 3]
    assert "error" in seen[0][0].meta


def test_fallback_handler_failure_halts() -> None:
    def broken_route(items: list[Item]) -> list[Any]:
        raise KeyError("no fallback")

    with pytest.raises(DispatchError, match="fallback handler failed") as caught:
        dispatch.run([1, 2], executor=dispatch.Inline(fail_on({1})),
                     on_error=dispatch.fallback(broken_route))
    assert isinstance(caught.value.cause, KeyError)


def test_contract_mismatch_names_the_function() -> None:
    with pytest.raises(DispatchError) as caught:
        dispatch.run([1, 2, 3], executor=dispatch.Inline("tests.dispatch.funcs:short_by_one"))
    message = str(caught.value)
    assert "tests.dispatch.funcs:short_by_one returned 2 results for 3 payloads" in message
    with pytest.raises(DispatchError, match="returned dict, expected a list of 1"):
        dispatch.call_batch([1], executor=dispatch.Inline("tests.dispatch.funcs:not_a_list"))


def test_telemetry_batch_events_carry_the_metadata() -> None:
    events: list[tuple[tuple[str, ...], dict[str, float], dict[str, Any]]] = []
    names = [(*telemetry.DISPATCH_BATCH, stage) for stage in ("start", "stop", "exception")]
    telemetry.attach_many("test-batch", names, lambda e, m, meta: events.append((e, m, meta)))
    try:
        ctx = Context(pipe="scoring").for_stage("score")
        dispatch.run(range(3), executor=dispatch.Inline(fail_on({2})), batch_size=2,
                     context=ctx, on_error="skip")
    finally:
        telemetry.detach("test-batch")
    kinds = [(e[-1], meta["batch_ref"]) for e, _, meta in events]
    assert kinds == [("start", 1), ("stop", 1), ("start", 2), ("exception", 2)]
    start_meta = events[0][2]
    assert {k: start_meta[k] for k in ("batch_ref", "batch_size", "executor", "pipe",
                                       "stage")} == {
        "batch_ref": 1, "batch_size": 2, "executor": "inline", "pipe": "scoring",
        "stage": "score"}
    assert events[1][1]["duration"] >= 0
    assert events[3][2]["kind"] == "BatchComputeError"


def test_call_batch_sends_one_batch_without_strategy() -> None:
    sizes: list[int] = []

    def record(payloads: list[Any]) -> list[Any]:
        sizes.append(len(payloads))
        return payloads

    results = dispatch.call_batch(list(range(100)), executor=dispatch.Inline(record),
                                  batch_size=7)
    assert sizes == [100]
    assert [r.payload for r in results] == list(range(100))
    assert dispatch.call_batch([], executor=dispatch.Inline(record)) == []
    with pytest.raises(DispatchError) as caught:
        dispatch.call_batch([1], executor=dispatch.Inline(fail_on({1})))
    assert caught.value.partial == []


def test_threads_timeout_fails_only_that_batch() -> None:
    def sometimes_slow(payloads: list[Any]) -> list[Any]:
        if 0 in payloads:
            time.sleep(0.5)
        return payloads

    with dispatch.Threads(sometimes_slow, max_workers=2) as pool:
        results = dispatch.run(range(4), executor=pool, batch_size=2, timeout=0.1,
                               on_error="skip")
    assert [r.payload for r in results] == [2, 3]


def test_custom_executor_returning_garbage_is_a_clear_error() -> None:
    class Broken:
        name = "broken"

        def execute_batch(self, batch: list[Item], ctx: Context,
                          opts: DispatchOptions) -> list[Item]:
            return "nope"  # type: ignore[return-value]

    with pytest.raises(DispatchError, match="executor broken returned str"):
        dispatch.run([1], executor=Broken())


def test_closing_the_stream_early_stops_pulling() -> None:
    source = Counting()
    with dispatch.Threads(double, max_workers=2) as pool:
        stream = dispatch.stream(source, executor=pool, batch_size=5, max_in_flight=2)
        assert next(stream).payload == 2
        stream.close()  # type: ignore[attr-defined]
        pulled = source.pulled
        for _ in range(3):
            with pytest.raises(StopIteration):
                next(stream)
    assert source.pulled == pulled <= 10
    leftovers = [t for t in threading.enumerate() if t.name.startswith("slither-dispatch")]
    for thread in leftovers:
        thread.join(5)
    assert not any(thread.is_alive() for thread in leftovers), "runner threads stop"


def test_key_partition_and_weighted_batches_reach_the_function() -> None:
    seen: list[list[Any]] = []

    def record(payloads: list[Any]) -> list[Any]:
        seen.append(list(payloads))
        return payloads

    words = ["ant", "bee", "asp", "cat", "bat", "ape"]
    results = dispatch.run(words, executor=dispatch.Inline(record),
                           strategy=dispatch.KeyPartition(lambda item: item.payload[0]))
    assert seen == [["ant", "asp", "ape"], ["bee", "bat"], ["cat"]]
    assert [r.payload for r in results] == ["ant", "asp", "ape", "bee", "bat", "cat"]

    seen.clear()
    dispatch.run([3, 3, 9, 2, 2, 2], executor=dispatch.Inline(record),
                 strategy=dispatch.WeightedBatch(6, lambda item: item.payload))
    assert seen == [[3, 3], [9], [2, 2, 2]]


def test_batch_compute_error_survives_pickling() -> None:
    import pickle

    from slither_stream.dispatch.compute import BatchComputeError

    error = BatchComputeError("boom", function="m:f", reason="crashed", error_type="X",
                              remote_traceback="trace", worker_pid=42)
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.function, copy.reason, copy.error_type, copy.remote_traceback,
            copy.worker_pid) == ("m:f", "crashed", "X", "trace", 42)
    assert str(copy) == str(error)
