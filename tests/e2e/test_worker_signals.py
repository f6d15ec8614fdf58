"""Stopping ``slither worker``: SIGTERM on any thread stops it, and a stop always ends.

The kernel hands a process-directed signal to any thread that does not block it.
A worker process whose main thread waited in C (``Event.wait()``) never ran its
Python SIGTERM handler when the signal landed on a stage thread, and its supervisor
then waited for it forever (a CI run's supervisor "did not stop on SIGTERM"). These
tests aim SIGTERM at a thread other than the main one with ``tgkill``, and check
that a supervisor kills a worker process that cannot stop (here: SIGSTOPped).
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from slither_stream.log import open_log
from slither_stream.pipe.deploy.runner import ensure_topics
from slither_stream.pipe.deploy.worker_process import EXIT_DRAIN_TIMEOUT, STOP_GRACE_S
from tests.e2e import worker_topology
from tests.e2e.test_workers import TOPOLOGY, Lines, produce, worker_process

Names = Callable[[str], str]


def _tgkill(pid: int, tid: int, signum: int) -> None:
    """Send ``signum`` to thread ``tid`` of process ``pid`` (not to the process)."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.tgkill(pid, tid, signum) != 0:
        error = ctypes.get_errno()
        raise OSError(error, f"tgkill({pid}, {tid}, {signum}): {os.strerror(error)}")


def _thread_taking(pid: int, signum: int) -> int:
    """A thread of ``pid`` other than its main thread that does not block ``signum``
    (librdkafka's threads block every signal; Python's threads take them)."""
    for task in sorted(Path(f"/proc/{pid}/task").iterdir()):
        tid = int(task.name)
        if tid == pid:
            continue
        status = (task / "status").read_text()
        blocked = int(next(line.split()[1] for line in status.splitlines()
                           if line.startswith("SigBlk:")), 16)
        if not blocked & (1 << (signum - 1)):
            return tid
    raise AssertionError(f"every thread of pid {pid} but the main one blocks signal {signum}")


def _slow_pipe_with_input(log_url: str, namespace: str, total: int) -> None:
    definition = worker_topology.slow_pipe.compile().with_namespace(namespace)
    with open_log(log_url) as log:
        ensure_topics(log, definition)
        produce(log, definition.input_topic, [{"n": n} for n in range(total)])


def test_sigterm_on_another_thread_stops_worker_and_supervisor(
        log_url: str, unique_name: Names) -> None:
    namespace = unique_name("slow")
    _slow_pipe_with_input(log_url, namespace, 300)
    with worker_process(log_url, f"{TOPOLOGY}:slow_pipe", namespace) as (process, lines):
        worker = int(lines.wait_for(r"processed \d+ in pid (\d+)").group(1))
        # the worker's main thread waits for its stages; SIGTERM reaches a stage thread
        _tgkill(worker, _thread_taking(worker, signal.SIGTERM), signal.SIGTERM)
        lines.wait_for(rf"worker slot 0 \(pid {worker}\) exited with code 0", timeout=30)
        # the supervisor restarts a worker it did not stop; SIGTERM the supervisor now,
        # on a thread of its own other than the main one
        restarted = int(lines.wait_for(r"started worker slot 0 as pid (\d+)").group(1))
        assert restarted != worker
        lines.wait_for(rf"processed \d+ in pid {restarted}")
        _tgkill(process.pid, _thread_taking(process.pid, signal.SIGTERM), signal.SIGTERM)
        assert process.wait(timeout=60) == 0


def test_supervisor_kills_a_worker_that_cannot_stop(tmp_path: Path,
                                                    unique_name: Names) -> None:
    log_url = f"embedded://{tmp_path / 'log'}"  # the supervisor, not the log, is tested
    namespace = unique_name("slow")
    _slow_pipe_with_input(log_url, namespace, 3000)
    drain_timeout = 1.0
    with worker_process(log_url, f"{TOPOLOGY}:slow_pipe", namespace,
                        options=["--drain-timeout", str(drain_timeout)]) as (process, lines):
        worker = int(lines.wait_for(r"processed \d+ in pid (\d+)").group(1))
        os.kill(worker, signal.SIGSTOP)  # stuck: its own drain deadline cannot act
        stopping = time.monotonic()
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == EXIT_DRAIN_TIMEOUT
        took = time.monotonic() - stopping
        story = "".join(lines.rest())
    assert f"worker pid {worker} did not exit within" in story, story[-2000:]
    assert drain_timeout + STOP_GRACE_S <= took < drain_timeout + STOP_GRACE_S + 10, took
    assert not Path(f"/proc/{worker}").exists(), f"worker pid {worker} is still there"


def test_sigusr1_writes_a_workers_stacks_and_it_runs_on(tmp_path: Path,
                                                       unique_name: Names) -> None:
    log_url = f"embedded://{tmp_path / 'log'}"
    namespace = unique_name("slow")
    _slow_pipe_with_input(log_url, namespace, 3000)
    with worker_process(log_url, f"{TOPOLOGY}:slow_pipe", namespace) as (process, lines):
        worker = int(lines.wait_for(r"processed \d+ in pid (\d+)").group(1))
        os.kill(worker, signal.SIGUSR1)
        lines.wait_for(r"Thread 0x[0-9a-f]+ \(most recent call first\)")
        lines.wait_for(r"worker_main")  # the main thread's stack, in the worker
        lines.wait_for(rf"processed \d+ in pid {worker}")  # still the same process
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0


def _session(sid: int) -> list[str]:
    """Every process of session ``sid`` (zombies included), described."""
    import psutil

    found = []
    for proc in psutil.process_iter():
        try:
            if os.getsid(proc.pid) != sid:
                continue
            found.append(f"{proc.pid} {proc.status()} {' '.join(proc.cmdline())[:120]}")
        except (ProcessLookupError, psutil.Error):
            continue  # gone meanwhile
    return found


@pytest.mark.kafka
def test_sigterm_leaves_no_process_behind(kafka_bootstrap: str, unique_name: Names,
                                          tmp_path: Path) -> None:
    """``slither worker --processes 2`` stopped with SIGTERM leaves nothing of its
    session: no worker process, no multiprocessing resource tracker (alive or a
    zombie nobody reaps)."""
    log_url = f"kafka://{kafka_bootstrap}"
    namespace = unique_name("busy")
    definition = worker_topology.busy_pipe.compile().with_namespace(namespace)
    with open_log(log_url) as log:
        ensure_topics(log, definition)
        produce(log, definition.input_topic, [{"n": n} for n in range(200)])
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "slither"), "worker",
         f"{Path(__file__).resolve().parents[2] / TOPOLOGY}:busy_pipe",
         "--log", log_url, "--namespace", namespace, "--processes", "2"],
        cwd=tmp_path, env={**os.environ, "SLITHER_LOG_LEVEL": "INFO"},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True)
    try:
        lines = Lines(process)
        lines.wait_for(r"started worker slot 1 as pid \d+")
        running = _session(process.pid)
        assert sum("resource_tracker" in line for line in running) == 1, running
        assert sum("spawn_main" in line for line in running) == 2, running
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=90) == 0
        assert _session(process.pid) == []
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
