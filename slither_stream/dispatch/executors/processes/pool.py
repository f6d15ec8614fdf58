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

Only the batch that was running fails; batches queued behind it are resent to the
replacement (see :mod:`.slot`) and other workers are untouched. Replacement happens
on the failing batch's thread before it reports, so the pool is back at full strength
when the error surfaces.

Each worker may hold ``prefetch`` batches queued behind the one it runs, so it starts
the next batch the moment it replies instead of waiting for the parent's threads to
be scheduled; a new batch always goes to the least-loaded worker, so idle workers are
used before anyone queues. Workers are fresh interpreters (the spawn model; never fork,
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
from slither_stream.dispatch.executors.processes.slot import Request, Slot
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


class Processes:
    """A pool of ``processes`` worker processes running one compute function.

    Use it as a context manager (or call :meth:`close`); it starts on ``__enter__``,
    :meth:`start`, or the first batch. ``prefetch`` batches may wait queued on a busy
    worker (0 disables queuing).
    """

    name = "processes"

    def __init__(self, function: Callable[[list[Any]], Any] | str, *,
                 processes: int | None = None, serializer: str = "pickle",
                 prefetch: int = 1, startup_timeout: float = 60.0) -> None:
        count = processes if processes is not None else (os.cpu_count() or 1)
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise ConfigError(f"Processes processes must be an int >= 1, got {processes!r}")
        if isinstance(prefetch, bool) or not isinstance(prefetch, int) or prefetch < 0:
            raise ConfigError(f"Processes prefetch must be an int >= 0, got {prefetch!r}")
        if isinstance(startup_timeout, bool) or not isinstance(startup_timeout, int | float) \
                or startup_timeout <= 0:
            raise ConfigError(f"Processes startup_timeout must be > 0 seconds, got "
                              f"{startup_timeout!r}")
        self.spec = spec_of(function)
        self.processes = count
        self.prefetch = prefetch
        self.startup_timeout = float(startup_timeout)
        self._codec = get_codec(serializer)
        self._cond = threading.Condition()
        self._slots = [Slot(index) for index in range(count)]
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
            launched = [(slot, launch(self.spec, self._codec)) for slot in self._slots]
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
            self._started = True
            self._cond.notify_all()
        return self

    def close(self, timeout: float = 5.0) -> None:
        """Stop every worker: idle ones now (politely, then SIGKILL after ``timeout``),
        busy ones as soon as their last batch returns. Idempotent."""
        with self._cond:
            if self._closed:
                return
            self._closed = True
            idle = [slot for slot in self._slots if slot.load == 0]
            self._cond.notify_all()
        for slot in idle:
            with slot.send_lock:
                worker, slot.worker = slot.worker, None
            if worker is not None:
                terminate(worker, grace=timeout)

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

    def execute_batch(self, batch: list[Item], ctx: Context,
                      opts: DispatchOptions) -> list[Item]:
        request = Request(encode_request(self._codec, self.spec,
                                         [item.payload for item in batch]), len(batch))
        slot = self._reserve()
        try:
            self._submit(slot, request)
            reply = self._await_reply(slot, request, opts.timeout)
        finally:
            self._release(slot)
        return to_items(batch, decode_reply(self._codec, self.spec, reply,
                                            request.worker_pid))

    def _unavailable(self, why: str) -> BatchComputeError:
        return BatchComputeError(f"Processes pool for {self.spec}: {why}",
                                 function=self.spec, reason="unavailable")

    def _reserve(self) -> Slot:
        """The least-loaded slot with room (waits while every worker is full)."""
        if not self._started:
            self.start()
        with self._cond:
            while True:
                if self._closed:
                    raise self._unavailable("the pool is closed")
                slot = min(self._slots, key=lambda candidate: candidate.load)
                if slot.load <= self.prefetch:
                    slot.load += 1
                    return slot
                self._cond.wait()

    def _release(self, slot: Slot) -> None:
        with self._cond:
            slot.load -= 1
            self._cond.notify()
            retire = self._closed and slot.load == 0
        if retire:
            with slot.send_lock:
                worker, slot.worker = slot.worker, None
            if worker is not None:
                terminate(worker, grace=1.0)

    def _submit(self, slot: Slot, request: Request) -> None:
        """Queue ``request`` on the slot's worker and write it to the socket."""
        with slot.send_lock:
            worker = self._ready_worker(slot)
            with self._cond:
                slot.outstanding.append(request)
                request.worker_pid = worker.pid
                if len(slot.outstanding) == 1:
                    request.started = time.monotonic()
                    request.turn.set()
            with contextlib.suppress(OSError):
                # A dead worker is noticed by whoever reads the head of the queue.
                worker.conn.send_bytes(request.data)

    def _ready_worker(self, slot: Slot) -> WorkerProcess:
        """The slot's worker, (re)starting it first if the slot is empty or its worker
        died while idle. Called with ``send_lock`` held."""
        worker = slot.worker
        if worker is not None and (worker.alive() or slot.outstanding):
            return worker  # a busy worker's death is handled by its reader
        if worker is not None:
            _log.warning("compute worker pid %s for %s died while idle (%s); replacing it",
                         worker.pid, self.spec, describe_exit(worker))
            terminate(worker)
            slot.worker = None
            with self._cond:
                self._restarts += 1
        if self._closed:
            raise self._unavailable("the pool is closed")
        slot.worker = self._spawn()
        return slot.worker

    def _spawn(self) -> WorkerProcess:
        worker = launch(self.spec, self._codec)
        await_ready(worker, self.spec, self._codec, time.monotonic() + self.startup_timeout)
        return worker

    def _await_reply(self, slot: Slot, request: Request, timeout: float | None) -> bytes:
        """Wait for our turn, then for the reply; fail the batch on a crash or hang."""
        request.turn.wait()
        if request.failure is not None:
            raise request.failure
        with self._cond:
            worker = slot.worker
        assert worker is not None, "a slot with outstanding requests has a worker"
        remaining = None if timeout is None else \
            max(0.0, request.started + timeout - time.monotonic())
        try:
            ready = wait(worker.waitables(), remaining)
            if worker.conn in ready:
                reply = worker.conn.recv_bytes()
                self._advance(slot, request)
                return reply
        except (EOFError, OSError):
            ready = [worker.conn]
        pid = worker.pid
        if not ready:
            failure = BatchComputeError(
                f"compute function {self.spec} did not finish a batch of {request.size} "
                f"within {timeout} s; worker pid {pid} was killed and replaced",
                function=self.spec, reason="timed_out", worker_pid=pid)
        else:
            with contextlib.suppress(subprocess.TimeoutExpired):
                worker.popen.wait(1.0)
            failure = BatchComputeError(
                f"compute worker pid {pid} running {self.spec} died during a batch of "
                f"{request.size} ({describe_exit(worker)}); it was replaced",
                function=self.spec, reason="crashed", worker_pid=pid)
        self._recover(slot, request, worker)
        raise failure

    def _advance(self, slot: Slot, request: Request) -> None:
        """``request`` got its reply: the next queued request's batch starts now."""
        with self._cond:
            head = slot.outstanding.popleft()
            assert head is request
            if slot.outstanding:
                following = slot.outstanding[0]
                following.started = time.monotonic()
                following.turn.set()

    def _recover(self, slot: Slot, request: Request, worker: WorkerProcess) -> None:
        """Replace the slot's dead or hung worker and resend the batches queued behind
        ``request`` (they never started). If no replacement starts, they fail too."""
        terminate(worker)  # first, so a sender blocked on its socket fails fast
        with slot.send_lock:
            with self._cond:
                head = slot.outstanding.popleft()
                assert head is request
                queued = list(slot.outstanding)
                slot.outstanding.clear()
                slot.worker = None
                self._restarts += 1
            try:
                if self._closed:
                    raise self._unavailable("the pool closed while the batch was queued")
                replacement = self._spawn()
            except BatchComputeError as error:
                _log.error("cannot replace compute worker %d for %s: %s",
                           slot.index, self.spec, error)
                for waiting in queued:
                    waiting.failure = error
                    waiting.turn.set()
                return
            with self._cond:
                slot.worker = replacement
                slot.outstanding.extend(queued)
                for waiting in queued:
                    waiting.worker_pid = replacement.pid
                if queued:
                    queued[0].started = time.monotonic()
                    queued[0].turn.set()
            for waiting in queued:
                with contextlib.suppress(OSError):
                    replacement.conn.send_bytes(waiting.data)

    def __repr__(self) -> str:
        return f"Processes({self.spec}, processes={self.processes})"
