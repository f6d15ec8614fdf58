"""Starting, checking and killing one worker process (no pool policy here).

Workers are started with :mod:`subprocess` as ``python -m ...worker`` over a
socket pair. The parent waits on the socket and, on Linux, on a pidfd of the child
(its "sentinel"), so a crash is noticed even if a grandchild still holds the socket.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait

from slither_stream.dispatch.compute import BatchComputeError
from slither_stream.dispatch.wire import Codec

SYS_PATH_ENV = "SLITHER_WORKER_SYS_PATH"
"""Carries the parent's ``sys.path`` so workers import what the parent can."""

BOOTSTRAP = (
    "import json, os, sys\n"
    f"sys.path[:] = json.loads(os.environ[{SYS_PATH_ENV!r}])\n"
    "from slither_stream.dispatch.executors.processes.worker import main\n"
    "main(sys.argv[1:])\n"
)
"""The worker's ``python -c`` program: install the parent's ``sys.path`` first, so
slither_stream and the user's module import even when only the parent's runtime
``sys.path`` edits make them importable."""


@dataclass
class WorkerProcess:
    """A live worker: the child process, the parent's end of its socket, its pidfd."""

    popen: subprocess.Popen[bytes]
    conn: Connection
    pidfd: int | None

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def waitables(self) -> list[Connection | int]:
        """What to wait on for "reply ready or worker gone"."""
        return [self.conn] if self.pidfd is None else [self.conn, self.pidfd]


def describe_exit(worker: WorkerProcess) -> str:
    """``exit code 3`` or ``killed by signal SIGSEGV``, for messages."""
    code = worker.popen.poll()
    if code is None:
        return "still running"
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = str(-code)
        hint = " (out-of-memory kill?)" if -code == signal.SIGKILL else ""
        return f"killed by signal {name}{hint}"
    return f"exit code {code}"


def _pidfd(pid: int) -> int | None:
    opener = getattr(os, "pidfd_open", None)
    if opener is None:
        return None
    try:
        fd: int = opener(pid)
    except OSError:
        return None
    return fd


def launch(spec: str, codec: Codec) -> WorkerProcess:
    """Start a worker; it is not ready until :func:`await_ready` says so."""
    parent_end, child_end = socket.socketpair()
    env = dict(os.environ)
    env[SYS_PATH_ENV] = json.dumps(sys.path)
    try:
        popen = subprocess.Popen(
            [sys.executable, "-c", BOOTSTRAP, str(child_end.fileno()), spec, codec.name],
            pass_fds=(child_end.fileno(),), stdin=subprocess.DEVNULL, env=env,
            cwd=os.getcwd())
    except OSError as error:
        parent_end.close()
        raise BatchComputeError(f"cannot start a compute worker for {spec}: {error}",
                                function=spec, reason="unavailable") from error
    finally:
        child_end.close()
    return WorkerProcess(popen, Connection(parent_end.detach()), _pidfd(popen.pid))


def await_ready(worker: WorkerProcess, spec: str, codec: Codec, deadline: float) -> None:
    """Wait for the worker's handshake; kill it and raise if it fails or is too slow."""
    remaining = max(0.0, deadline - time.monotonic())
    ready = wait(worker.waitables(), remaining)
    message: object = None
    if worker.conn in ready:
        try:
            message = codec.decode(worker.conn.recv_bytes())
        except (EOFError, OSError):
            message = None
    if isinstance(message, list) and message[:1] == ["ready"]:
        return
    if isinstance(message, list) and message[:1] == ["failed"]:
        terminate(worker)
        raise BatchComputeError(f"compute worker could not load {spec}", function=spec,
                                reason="unavailable", remote_traceback=str(message[1]))
    terminate(worker)
    detail = "did not start in time" if not ready else \
        f"exited during start-up ({describe_exit(worker)})"
    raise BatchComputeError(f"compute worker for {spec} {detail}", function=spec,
                            reason="unavailable", worker_pid=worker.pid)


def terminate(worker: WorkerProcess, grace: float = 0.0) -> None:
    """Stop a worker: close its socket (a polite stop), wait ``grace``, then SIGKILL."""
    with contextlib.suppress(OSError):
        worker.conn.close()
    if grace > 0:
        with contextlib.suppress(subprocess.TimeoutExpired):
            worker.popen.wait(grace)
    if worker.popen.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            worker.popen.kill()
        worker.popen.wait()
    if worker.pidfd is not None:
        with contextlib.suppress(OSError):
            os.close(worker.pidfd)
        worker.pidfd = None
