"""SIGTERM and SIGINT as a call on a thread of our own, whatever the main thread does.

The kernel delivers a process-directed signal to any thread that does not block it.
CPython's C-level handler then only marks the signal; the Python-level handler runs
later, in the main thread, the next time that thread executes bytecode. A main
thread blocked in C (``Event.wait()`` without a timeout, ``Thread.join()``, a
librdkafka call) therefore never runs it when the signal landed on another thread:
a worker process under a supervisor ignored SIGTERM that way, forever, and the
supervisor waiting for it never returned either.

Two more traps sit in running callbacks inside the handler: it runs between any two
bytecodes, including inside :mod:`threading` internals that hold a non-reentrant
lock (an ``Event``'s condition as a ``wait()`` begins, the thread registry as a
thread starts), so setting that ``Event`` or starting a thread there deadlocks.

:class:`StopSignals` avoids both. The C-level handler writes the signal number to a
wakeup pipe (:func:`signal.set_wakeup_fd`) on whichever thread the signal landed,
and a named daemon thread reading that pipe makes the call with ordinary thread
context, where taking locks and starting threads is safe. The Python-level handler
does nothing.

The wakeup fd is one per process: code that sets its own while a :class:`StopSignals`
is entered (an asyncio loop in the main thread) takes the signals over until it
restores it.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Callable, Iterable
from types import FrameType, TracebackType
from typing import Any, Self

_log = logging.getLogger(__name__)

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)

_QUIT = 0
"""The byte :meth:`StopSignals.close` writes to end the thread (no signal is 0)."""


class StopSignals:
    """While entered, ``on_signal(signum)`` runs on the thread ``slither-stop-signals``
    once per SIGTERM or SIGINT received; leaving restores the previous handlers and
    wakeup fd.

    Enter it from the main thread (Python sets signal handlers only there).
    """

    def __init__(self, on_signal: Callable[[int], None],
                 signals: Iterable[signal.Signals] = STOP_SIGNALS) -> None:
        self._on_signal = on_signal
        self._signals = frozenset(int(signum) for signum in signals)
        self._previous: dict[int, Any] = {}
        self._previous_wakeup_fd: int | None = None
        self._read_fd = -1
        self._write_fd = -1
        self._thread: threading.Thread | None = None

    def __enter__(self) -> Self:
        self._read_fd, self._write_fd = os.pipe()
        os.set_blocking(self._write_fd, False)  # the C handler must never block
        self._thread = threading.Thread(target=self._serve, name="slither-stop-signals",
                                        daemon=True)
        self._thread.start()
        try:
            self._previous_wakeup_fd = signal.set_wakeup_fd(self._write_fd,
                                                            warn_on_full_buffer=False)
            for signum in self._signals:
                self._previous[signum] = signal.signal(signum, _noted_by_wakeup_fd)
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        """Restore the previous handlers and wakeup fd; end the thread (idempotent)."""
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)
        self._previous.clear()
        if self._previous_wakeup_fd is not None:
            signal.set_wakeup_fd(self._previous_wakeup_fd)
            self._previous_wakeup_fd = None
        if self._thread is None:
            return
        os.set_blocking(self._write_fd, True)  # no handler writes to it any more
        os.write(self._write_fd, bytes((_QUIT,)))
        self._thread.join()
        self._thread = None
        os.close(self._read_fd)
        os.close(self._write_fd)

    def _serve(self) -> None:
        while True:
            for signum in os.read(self._read_fd, 64):
                if signum == _QUIT:
                    return
                if signum not in self._signals:
                    continue  # another signal with a Python handler: not ours
                try:
                    self._on_signal(signum)
                except Exception:  # a failing callback must not end signal handling
                    _log.exception("handling signal %d failed", signum)


def _noted_by_wakeup_fd(_signum: int, _frame: FrameType | None) -> None:
    """The Python-level handler: the wakeup fd already carried the signal."""
