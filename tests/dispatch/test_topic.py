"""The Topic executor and its compute worker group, on both log backends.

On Kafka the workers are real ``slither compute`` subprocesses. The embedded log is
single-process by design (a second process cannot open it), so there the workers are
threads of the test process sharing the open log.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import pytest

from slither_stream import dispatch
from slither_stream.dispatch.compute import BatchComputeError
from slither_stream.errors import ConfigError, DispatchError
from slither_stream.log import Log

FUNCS = "tests.dispatch.funcs"
ROOT = Path(__file__).resolve().parents[2]


class Names:
    def __init__(self, unique_name: Callable[[str], str]) -> None:
        self.requests = unique_name("dispatch-requests")
        self.replies = unique_name("dispatch-replies")
        self.group = unique_name("dispatch-workers")


@pytest.fixture
def names(unique_name: Callable[[str], str]) -> Names:
    return Names(unique_name)


@contextmanager
def workers(log: Log, log_url: str, function: str, names: Names,
            count: int = 2) -> Iterator[list[Any]]:
    """``count`` compute workers for the test; subprocesses on Kafka, threads otherwise.

    Yields the Popen objects (Kafka) or threads (embedded)."""
    if log_url.startswith("kafka://"):
        command = [sys.executable, "-c", "from slither_stream.cli.main import main; main()",
                   "compute", "--function", function, "--log", log_url,
                   "--request-topic", names.requests, "--group", names.group,
                   "--session-timeout", "2"]
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        procs = [subprocess.Popen(command, cwd=ROOT, env=env) for _ in range(count)]
        try:
            yield procs
        finally:
            for proc in procs:
                proc.terminate()
            for proc in procs:
                try:
                    proc.wait(15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        return
    stop = threading.Event()

    def member() -> None:
        with suppress(SystemExit):  # thread_dies_once: this member "died" mid-batch
            dispatch.run_compute_worker(log, function, names.requests, None, names.group,
                                        stop=stop, poll_timeout=0.1)

    threads = [threading.Thread(target=member, name=f"test-compute-worker-{i}")
               for i in range(count)]
    for thread in threads:
        thread.start()
    try:
        yield threads
    finally:
        stop.set()
        for thread in threads:
            thread.join(10)


def topic(log: Log, function: str, names: Names) -> dispatch.Topic:
    log.create_topic(names.requests, 2)
    return dispatch.Topic(log, function, request_topic=names.requests,
                          reply_topic=names.replies, partitions=2)


def test_batches_round_trip_through_the_worker_group(log: Log, log_url: str,
                                                     names: Names) -> None:
    with topic(log, f"{FUNCS}:with_pid", names) as executor, \
            workers(log, log_url, f"{FUNCS}:with_pid", names) as members:
        results = dispatch.run(range(40), executor=executor, batch_size=4, max_in_flight=4,
                               timeout=60)
    assert [r.payload[0] for r in results] == list(range(40))
    pids = {r.payload[1] for r in results}
    if log_url.startswith("kafka://"):
        assert pids <= {proc.pid for proc in members}, "computed by the worker processes"
    else:
        assert pids == {os.getpid()}


def test_function_error_comes_back_with_the_remote_traceback(log: Log, log_url: str,
                                                              names: Names) -> None:
    with topic(log, f"{FUNCS}:misbehave", names) as executor, \
            workers(log, log_url, f"{FUNCS}:misbehave", names, count=1):
        with pytest.raises(DispatchError) as caught:
            dispatch.call_batch([1, "boom"], executor=executor, timeout=60)
        assert [r.payload for r in dispatch.call_batch([3], executor=executor,
                                                       timeout=60)] == [6]
    failure = caught.value.cause
    assert isinstance(failure, BatchComputeError)
    assert failure.reason == "raised"
    assert failure.remote_traceback is not None and "boom payload seen" in \
        failure.remote_traceback


def test_no_reply_within_the_timeout_fails_the_batch(log: Log, names: Names) -> None:
    with topic(log, f"{FUNCS}:double", names) as executor, \
            pytest.raises(DispatchError) as caught:
        dispatch.call_batch([1], executor=executor, timeout=0.5)
    failure = caught.value.cause
    assert isinstance(failure, BatchComputeError)
    assert failure.reason == "timed_out"
    assert names.requests in str(failure)


def test_worker_dying_mid_batch_is_redelivered_to_another_member(
        log: Log, log_url: str, names: Names, tmp_path: Path) -> None:
    kafka = log_url.startswith("kafka://")
    function = f"{FUNCS}:exit_once" if kafka else f"{FUNCS}:thread_dies_once"
    marker = tmp_path / "died"
    with topic(log, function, names) as executor, \
            workers(log, log_url, function, names, count=2) as members:
        results = dispatch.call_batch([str(marker), "a", "b"], executor=executor, timeout=90)
        dead_pid, _, dead_thread = marker.read_text().partition(" ")
        dead = int(dead_pid)
        assert [r.payload[0] for r in results] == [str(marker), "a", "b"]
        if kafka:
            assert results[0].payload[1] != dead, "another member computed it"
            exited = [proc for proc in members if proc.poll() is not None]
            assert [proc.pid for proc in exited] == [dead]
        else:
            [victim] = [thread for thread in members if thread.name == dead_thread]
            victim.join(10)
            assert not victim.is_alive(), "the member that died left the group"
            assert all(t.is_alive() for t in members if t is not victim)
        again = dispatch.call_batch([str(marker), "c"], executor=executor, timeout=60)
        assert [r.payload[0] for r in again] == [str(marker), "c"]


def test_topic_rejects_bad_configuration(log: Log) -> None:
    with pytest.raises(ConfigError, match="must differ"):
        dispatch.Topic(log, f"{FUNCS}:double", request_topic="a", reply_topic="a")
    with pytest.raises(ConfigError, match="request_topic"):
        dispatch.Topic(log, f"{FUNCS}:double", request_topic="", reply_topic="b")
    with pytest.raises(ConfigError, match="partitions"):
        dispatch.Topic(log, f"{FUNCS}:double", request_topic="a", reply_topic="b",
                       partitions=0)


def test_worker_refuses_requests_for_another_function(log: Log, log_url: str,
                                                       names: Names) -> None:
    with topic(log, f"{FUNCS}:identity", names) as executor, \
            workers(log, log_url, f"{FUNCS}:double", names, count=1), \
            pytest.raises(DispatchError) as caught:
        dispatch.call_batch([1], executor=executor, timeout=60)
    failure = caught.value.cause
    assert isinstance(failure, BatchComputeError)
    assert failure.reason == "contract"
    assert f"runs {FUNCS}:double, but the request asks for {FUNCS}:identity" in str(failure)


@pytest.mark.kafka
def test_topic_opens_and_closes_its_own_log_from_a_url(kafka_bootstrap: str,
                                                       names: Names) -> None:
    url = f"kafka://{kafka_bootstrap}"
    executor = dispatch.Topic(url, f"{FUNCS}:double", request_topic=names.requests,
                              reply_topic=names.replies, partitions=1)
    with executor:
        stop = threading.Event()
        worker = threading.Thread(
            target=dispatch.run_compute_worker,
            args=(url, f"{FUNCS}:double", names.requests, None, names.group),
            kwargs={"stop": stop, "session_timeout": 2.0}, name="test-url-worker")
        worker.start()
        try:
            results = dispatch.run(range(10), executor=executor, batch_size=3, timeout=60)
        finally:
            stop.set()
            worker.join(30)
    assert [r.payload for r in results] == [2 * i for i in range(10)]
    assert not worker.is_alive()
    with pytest.raises(DispatchError, match="closed"):
        dispatch.call_batch([1], executor=executor)
