"""Processes: a supervised pool of long-lived compute worker processes.

Each worker imports ``"module:function"`` once and then serves batches: one batch is
one message over the worker's socket (the payload list encoded in one call, see
:mod:`slither_stream.dispatch.wire`). A runner thread checks a worker out, sends the
batch and waits on the worker's socket *and* its process sentinel (a pidfd), with
:func:`multiprocessing.connection.wait` and the batch timeout:

* a reply arrives → results, or the function's error with its remote traceback;
* the sentinel fires (segfault, ``os._exit``, OOM kill) → that batch fails with
  ``crashed`` and the worker is replaced;
* the timeout passes → the worker is killed and replaced, the batch fails with
  ``timed_out``.

Only the batch in that worker fails; the others keep running. Replacement happens on
the failing batch's thread before it reports, so the pool is back at full strength
when the error surfaces. Workers are fresh interpreters (the spawn model; never fork,
which is unsafe in a process running threads or librdkafka), see
:mod:`.supervisor`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import subprocess
import threading
import time
from collections.abc import Callable
from multiprocessing.connection import wait
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

from slither_stream.context import Context
from slither_stream.dispatch.compute import BatchComputeError, spec_of, to_items
from slither_stream.dispatch.executors.processes.supervisor import (
    WorkerProcess,
    await_ready,
    describe_exit,
    launch,
    terminate,
)
from slither_stream.dispatch.wire import decode_reply, encode_request, get_codec
from slither_stream.errors import ConfigError
from slither_stream.item import Item

if TYPE_CHECKING:
    from slither_stream.dispatch.options import DispatchOptions

_log = logging.getLogger(__name__)


class _Slot:
    """One place in the pool; holds a worker, or None until one is (re)started."""

    def __init__(self, index: int) -> None:
        self.index = index
        self.worker: WorkerProcess | None = None


class Processes:
    """A pool of ``processes`` worker processes running one compute function.

    Use it as a context manager (or call :meth:`close`); it starts on ``__enter__``,
    :meth:`start`, or the first batch.
    """

    name = "processes"

    def __init__(self, function: Callable[[list[Any]], Any] | str, *,
                 processes: int | None = None, serializer: str = "pickle",
                 startup_timeout: float = 60.0) -> None:
        count = processes if processes is not None else (os.cpu_count() or 1)
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise ConfigError(f"Processes processes must be an int >= 1, got {processes!r}")
        if isinstance(startup_timeout, bool) or not isinstance(startup_timeout, int | float) \
                or startup_timeout <= 0:
            raise ConfigError(f"Processes startup_timeout must be > 0 seconds, got "
                              f"{startup_timeout!r}")
        self.spec = spec_of(function)
        self.processes = count
        self.startup_timeout = float(startup_timeout)
        self._codec = get_codec(serializer)
        self._cond = threading.Condition()
        self._slots = [_Slot(index) for index in range(count)]
        self._idle: list[_Slot] = []
        self._started = False
        self._closed = False
        self._restarts = 0

    # -- lifecycle ------------------------------------------------------------------

    def start(self) -> Self:
        """Start every worker and wait until each has imported the function.

        Raises :class:`~slither_stream.errors.ConfigError` if the function cannot be
        loaded (the worker's traceback is in the message).
        """
        with self._cond:
            if self._closed:
                raise ConfigError(f"Processes pool for {self.spec} is closed")
            if self._started:
                return self
            launched = [(slot, launch(self.spec, self._codec))
                        for slot in self._slots]
            deadline = time.monotonic() + self.startup_timeout
            failure: BatchComputeError | None = None
            for slot, worker in launched:
                if failure is not None:
                    terminate(worker)
                    continue
                try:
                    await_ready(worker, self.spec, self._codec, deadline)
                    slot.worker = worker
                except BatchComputeError as error:
                    failure = error
            if failure is not None:
                for slot, _ in launched:
                    if slot.worker is not None:
                        terminate(slot.worker)
                        slot.worker = None
                raise ConfigError(f"cannot start the Processes pool: {failure}") from failure
            self._idle = list(self._slots)
            self._started = True
            self._cond.notify_all()
        return self

    def close(self, timeout: float = 5.0) -> None:
        """Stop every worker: idle ones now (politely, then SIGKILL after ``timeout``),
        busy ones as soon as their batch returns. Idempotent."""
        with self._cond:
            if self._closed:
                return
            self._closed = True
            idle, self._idle = self._idle, []
            self._cond.notify_all()
        for slot in idle:
            if slot.worker is not None:
                terminate(slot.worker, grace=timeout)
                slot.worker = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    # -- observation ----------------------------------------------------------------

    def worker_pids(self) -> list[int]:
        """Pids of the current workers, in slot order (for monitoring and tests)."""
        with self._cond:
            return [slot.worker.pid for slot in self._slots if slot.worker is not None]

    @property
    def restarts(self) -> int:
        """How many workers were killed or found dead and replaced."""
        return self._restarts

    # -- batches --------------------------------------------------------------------

    def _checkout(self) -> _Slot:
        if not self._started:
            self.start()
        with self._cond:
            while not self._idle and not self._closed:
                self._cond.wait()
            if self._closed:
                raise BatchComputeError(f"Processes pool for {self.spec} is closed",
                                        function=self.spec, reason="unavailable")
            return self._idle.pop()

    def _checkin(self, slot: _Slot) -> None:
        with self._cond:
            if not self._closed:
                self._idle.append(slot)
                self._cond.notify()
                return
        if slot.worker is not None:
            terminate(slot.worker, grace=1.0)
            slot.worker = None

    def _ensure_worker(self, slot: _Slot) -> WorkerProcess:
        """The slot's worker, replacing a missing or dead one first."""
        worker = slot.worker
        if worker is not None and worker.alive():
            return worker
        if worker is not None:
            _log.warning("compute worker pid %s for %s died while idle (%s); replacing it",
                         worker.pid, self.spec, describe_exit(worker))
            self._replace(slot)
        else:
            self._respawn(slot)
        if slot.worker is None:
            raise BatchComputeError(f"no compute worker for {self.spec} could be started "
                                    "(see the log for the start-up error)",
                                    function=self.spec, reason="unavailable")
        return slot.worker

    def _respawn(self, slot: _Slot) -> None:
        worker = launch(self.spec, self._codec)
        await_ready(worker, self.spec, self._codec,
                    time.monotonic() + self.startup_timeout)
        slot.worker = worker

    def _replace(self, slot: _Slot) -> None:
        """Kill the slot's worker and start a new one (failure leaves the slot empty,
        to be retried by the next batch that gets it)."""
        if slot.worker is not None:
            terminate(slot.worker)
            slot.worker = None
            with self._cond:
                self._restarts += 1
        if self._closed:
            return
        try:
            self._respawn(slot)
        except BatchComputeError as error:
            _log.error("cannot replace compute worker %d for %s: %s",
                       slot.index, self.spec, error)

    def execute_batch(self, batch: list[Item], ctx: Context,
                      opts: DispatchOptions) -> list[Item]:
        data = encode_request(self._codec, self.spec, [item.payload for item in batch])
        slot = self._checkout()
        try:
            worker = self._ensure_worker(slot)
            reply = self._exchange(slot, worker, data, len(batch), opts.timeout)
        finally:
            self._checkin(slot)
        return to_items(batch, decode_reply(self._codec, self.spec, reply, worker.pid))

    def _exchange(self, slot: _Slot, worker: WorkerProcess, data: bytes, size: int,
                  timeout: float | None) -> bytes:
        """Send one batch to ``worker`` and return the raw reply, or fail the batch."""
        try:
            worker.conn.send_bytes(data)
            ready = wait(worker.waitables(), timeout)
            if worker.conn in ready:
                return worker.conn.recv_bytes()
        except (EOFError, OSError):
            ready = [worker.conn]
        pid = worker.pid
        if not ready:
            self._replace(slot)
            raise BatchComputeError(
                f"compute function {self.spec} did not finish a batch of {size} within "
                f"{timeout} s; worker pid {pid} was killed and replaced",
                function=self.spec, reason="timed_out", worker_pid=pid)
        with contextlib.suppress(subprocess.TimeoutExpired):
            worker.popen.wait(1.0)
        how = describe_exit(worker)
        self._replace(slot)
        raise BatchComputeError(
            f"compute worker pid {pid} running {self.spec} died during a batch of {size} "
            f"({how}); it was replaced", function=self.spec, reason="crashed", worker_pid=pid)

    def __repr__(self) -> str:
        return f"Processes({self.spec}, processes={self.processes})"
