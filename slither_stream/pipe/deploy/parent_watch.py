"""Stop a worker process when its supervisor dies.

A worker process whose supervisor is SIGKILLed (or OOM-killed) would otherwise live
on as an orphan: still a consumer-group member, still holding partitions and
burning CPU, while the restarted supervisor starts a second set of workers beside
it. The watch waits on a pidfd of the parent (Linux ≥ 5.3), which becomes readable
when the parent exits, and then calls ``on_parent_exit`` — a graceful stop, so the
worker still drains and commits what it has.
"""

from __future__ import annotations

import logging
import os
import select
import threading
from collections.abc import Callable
from types import TracebackType
from typing import Self

_log = logging.getLogger(__name__)


class ParentWatch:
    """A named thread that calls ``on_parent_exit`` once the parent process exits.

    ``close()`` ends the thread without calling back. Where pidfds are not available
    the watch logs once and does nothing (the worker then outlives a killed parent,
    as plain processes do).
    """

    def __init__(self, on_parent_exit: Callable[[], None]) -> None:
        self._on_parent_exit = on_parent_exit
        self._parent = os.getppid()
        self._wake_r, self._wake_w = os.pipe()
        self._pidfd: int | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> Self:
        try:
            self._pidfd = os.pidfd_open(self._parent)
        except (AttributeError, OSError) as error:
            _log.warning("cannot watch parent pid %d (%s); a killed supervisor will "
                         "leave this worker running", self._parent, error)
            return self
        self._thread = threading.Thread(target=self._watch, name="slither-parent-watch",
                                        daemon=True)
        self._thread.start()
        return self

    def _watch(self) -> None:
        assert self._pidfd is not None
        readable, _, _ = select.select([self._pidfd, self._wake_r], [], [])
        if self._pidfd in readable or os.getppid() != self._parent:
            _log.error("supervisor pid %d exited; stopping this worker", self._parent)
            self._on_parent_exit()

    def close(self) -> None:
        """Stop watching (idempotent)."""
        if self._wake_w >= 0:
            os.write(self._wake_w, b"x")
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        for fd in (self._pidfd, self._wake_r, self._wake_w):
            if fd is not None and fd >= 0:
                os.close(fd)
        self._pidfd = None
        self._wake_r = self._wake_w = -1

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
