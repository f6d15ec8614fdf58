"""The Processes executor with real worker processes: crashes, hangs, recovery."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from slither_stream import dispatch
from slither_stream.dispatch.compute import BatchComputeError
from slither_stream.errors import ConfigError, DispatchError

FUNCS = "tests.dispatch.funcs"


@pytest.fixture
def pool() -> Iterator[dispatch.Processes]:
    with dispatch.Processes(f"{FUNCS}:misbehave", processes=2) as started:
        yield started


def _failure(error: DispatchError) -> BatchComputeError:
    assert isinstance(error.cause, BatchComputeError)
    return error.cause


def test_batches_run_in_long_lived_workers(pool: dispatch.Processes) -> None:
    pids = pool.worker_pids()
    assert len(pids) == 2
    assert os.getpid() not in pids
    results = dispatch.run(range(50), executor=pool, batch_size=4, max_in_flight=4)
    assert [r.payload for r in results] == [2 * i for i in range(50)]
    assert pool.worker_pids() == pids, "workers are reused, not started per batch"


def test_function_runs_in_the_worker_processes() -> None:
    with dispatch.Processes(f"{FUNCS}:with_pid", processes=2) as pool:
        results = dispatch.run(range(20), executor=pool, batch_size=2, max_in_flight=2)
        used = {pid for _, pid in (r.payload for r in results)}
        assert used <= set(pool.worker_pids())
        assert os.getpid() not in used


def test_raise_fails_only_that_batch_with_remote_traceback(pool: dispatch.Processes) -> None:
    pids = pool.worker_pids()
    with pytest.raises(DispatchError) as caught:
        dispatch.call_batch([1, "boom"], executor=pool)
    failure = _failure(caught.value)
    assert failure.reason == "raised"
    assert failure.error_type == "ValueError"
    assert failure.remote_traceback is not None
    assert "funcs.py" in failure.remote_traceback and "boom payload seen" in str(failure)
    assert pool.worker_pids() == pids, "a raise does not cost the worker"
    assert pool.restarts == 0


@pytest.mark.parametrize(("marker", "how"), [
    ("crash", "exit code 3"),
    ("segv", "killed by signal SIGSEGV"),
])
def test_crash_fails_only_its_batch_and_the_worker_is_replaced(
        pool: dispatch.Processes, marker: str, how: str) -> None:
    before = set(pool.worker_pids())
    with pytest.raises(DispatchError) as caught:
        dispatch.call_batch([1, marker], executor=pool)
    failure = _failure(caught.value)
    assert failure.reason == "crashed"
    assert how in str(failure)
    assert failure.worker_pid in before
    after = set(pool.worker_pids())
    assert len(after) == 2
    assert failure.worker_pid not in after, "the dead worker was replaced"
    assert not psutil.pid_exists(failure.worker_pid) or \
        psutil.Process(failure.worker_pid).status() == psutil.STATUS_ZOMBIE
    assert pool.restarts == 1
    assert [r.payload for r in dispatch.call_batch([5, 6], executor=pool)] == [10, 12]


def test_oom_style_kill_of_a_busy_worker(tmp_path: Path) -> None:
    """SIGKILL from outside (what the OOM killer does) while a batch runs."""
    fifo = tmp_path / "busy"
    os.mkfifo(fifo)
    victim: list[int] = []

    def kill_when_busy() -> None:
        with open(fifo) as handle:  # blocks until the worker is inside the batch
            victim.append(int(handle.read()))
        os.kill(victim[0], signal.SIGKILL)

    killer = threading.Thread(target=kill_when_busy, name="test-oom-killer")
    killer.start()
    with dispatch.Processes(f"{FUNCS}:announce_and_hang", processes=1) as pool:
        with pytest.raises(DispatchError) as caught:
            dispatch.call_batch([str(fifo)], executor=pool, timeout=30)
        killer.join()
        failure = _failure(caught.value)
        assert failure.reason == "crashed"
        assert "killed by signal SIGKILL" in str(failure)
        assert failure.worker_pid == victim[0]
        assert victim[0] not in pool.worker_pids()
        assert len(pool.worker_pids()) == 1


def test_hang_past_timeout_kills_and_replaces_the_worker(pool: dispatch.Processes) -> None:
    before = set(pool.worker_pids())
    started = time.monotonic()
    with pytest.raises(DispatchError) as caught:
        dispatch.call_batch(["hang"], executor=pool, timeout=0.5)
    assert time.monotonic() - started < 5
    failure = _failure(caught.value)
    assert failure.reason == "timed_out"
    assert failure.worker_pid in before
    assert failure.worker_pid not in pool.worker_pids()
    assert len(pool.worker_pids()) == 2
    assert [r.payload for r in dispatch.call_batch([7], executor=pool)] == [14]


def test_one_bad_batch_among_many_under_skip(pool: dispatch.Processes) -> None:
    skipped: list[list[object]] = []
    payloads: list[object] = list(range(20))
    payloads[9] = "crash"
    payloads[14] = "hang"
    results = dispatch.run(payloads, executor=pool, batch_size=2, max_in_flight=2,
                           timeout=1.0,
                           on_error=dispatch.skip(
                               lambda b, e: skipped.append([i.payload for i in b])))
    assert skipped == [[8, "crash"], ["hang", 15]], "reported in batch order"
    expected = [2 * p for p in payloads if p not in (8, "crash", "hang", 15)]
    assert [r.payload for r in results] == expected
    assert len(pool.worker_pids()) == 2
    assert pool.restarts == 2


def test_contract_mismatch_from_a_worker_names_the_function() -> None:
    with dispatch.Processes(f"{FUNCS}:short_by_one", processes=1) as pool, \
            pytest.raises(DispatchError) as caught:
        dispatch.call_batch([1, 2, 3], executor=pool)
    failure = _failure(caught.value)
    assert failure.reason == "contract"
    assert f"{FUNCS}:short_by_one returned 2 results for 3 payloads" in str(failure)


def test_unimportable_function_fails_at_start_with_the_worker_traceback() -> None:
    pool = dispatch.Processes(f"{FUNCS}:missing", processes=2)
    with pytest.raises(ConfigError, match="has no attribute 'missing'"):
        pool.start()
    pool.close()


def test_unpicklable_payload_fails_the_batch_clearly(pool: dispatch.Processes) -> None:
    with pytest.raises(DispatchError, match="cannot encode the batch"):
        dispatch.call_batch([lambda: 1], executor=pool)
    assert [r.payload for r in dispatch.call_batch([1], executor=pool)] == [2]


def test_json_serializer_round_trips() -> None:
    with dispatch.Processes(f"{FUNCS}:identity", processes=1, serializer="json") as pool:
        payloads = [{"a": [1, 2.5, None]}, "text", 3]
        results = dispatch.call_batch(payloads, executor=pool)
    assert [r.payload for r in results] == payloads


def test_close_stops_every_worker_and_rejects_new_batches() -> None:
    pool = dispatch.Processes(f"{FUNCS}:double", processes=2).start()
    pids = pool.worker_pids()
    dispatch.run(range(8), executor=pool, batch_size=2)
    pool.close()
    for pid in pids:
        assert not psutil.pid_exists(pid) or \
            psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    with pytest.raises(DispatchError, match="closed"):
        dispatch.call_batch([1], executor=pool)
    pool.close()  # idempotent


def test_pool_starts_lazily_on_first_batch() -> None:
    pool = dispatch.Processes(f"{FUNCS}:double", processes=1)
    try:
        assert pool.worker_pids() == []
        assert [r.payload for r in dispatch.call_batch([4], executor=pool)] == [8]
        assert len(pool.worker_pids()) == 1
    finally:
        pool.close()


def test_retry_after_a_crash_succeeds_on_the_replacement_worker(tmp_path: Path) -> None:
    marker = tmp_path / "crashed-once"
    with dispatch.Processes(f"{FUNCS}:exit_once", processes=1) as pool:
        first_pid = pool.worker_pids()[0]
        results = dispatch.call_batch([str(marker), 1], executor=pool,
                                      on_error=dispatch.retry(2, backoff=0))
        assert int(marker.read_text()) == first_pid
        assert [r.payload for r in results] == [[str(marker), pool.worker_pids()[0]],
                                                [1, pool.worker_pids()[0]]]
        assert pool.worker_pids() != [first_pid]
        assert pool.restarts == 1


@pytest.mark.parametrize("marker", ["hang", "crash"])
def test_batches_queued_behind_a_failed_batch_are_resent(marker: str) -> None:
    """With one worker and prefetch 1, batch 2 waits in the worker's socket while
    batch 1 hangs or crashes; it never started, so it is resent to the replacement."""
    skipped: list[list[object]] = []
    with dispatch.Processes(f"{FUNCS}:misbehave", processes=1, prefetch=1) as pool:
        first = pool.worker_pids()
        results = dispatch.run([marker, 1, 2, 3], executor=pool, batch_size=1,
                               max_in_flight=2, timeout=1.0,
                               on_error=dispatch.skip(
                                   lambda b, e: skipped.append([i.payload for i in b])))
        assert [r.payload for r in results] == [2, 4, 6]
        assert skipped == [[marker]]
        assert pool.restarts == 1
        assert pool.worker_pids() != first


def test_prefetch_zero_keeps_one_batch_per_worker() -> None:
    with dispatch.Processes(f"{FUNCS}:with_pid", processes=2, prefetch=0) as pool:
        results = dispatch.run(range(30), executor=pool, batch_size=3, max_in_flight=6)
        assert [r.payload[0] for r in results] == list(range(30))
    with pytest.raises(ConfigError, match="prefetch"):
        dispatch.Processes(f"{FUNCS}:double", prefetch=-1)
