"""Deferred clean-up on one named thread: closing and deleting retired generations
(and the owner's trailing store size reports, see ``size.py``).

A retired generation must outlive the calls that started on it (grace period) and
may only be deleted once no StoreReader holds it, which can take several attempts.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from slither_stream.errors import StoreError

_log = logging.getLogger(__name__)


class Retirer:
    """Runs deferred clean-up (closing and deleting old generations) on one named thread.

    ``schedule(delay, action)``: ``action()`` runs after ``delay`` seconds and returns
    None when done, or a number of seconds after which to try again (a reader still
    holds the generation). The owner stops it with :meth:`close`, which runs every
    pending action once more without waiting.
    """

    def __init__(self, name: str) -> None:
        self._name = name
        self._pending: list[tuple[float, Callable[[], float | None]]] = []
        self._changed = threading.Condition()
        self._stopping = False
        self._thread: threading.Thread | None = None

    def schedule(self, delay: float, action: Callable[[], float | None]) -> None:
        with self._changed:
            if self._stopping:
                raise StoreError(f"{self._name} is closed")
            self._pending.append((time.monotonic() + delay, action))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                self._thread.start()
            self._changed.notify_all()

    def _run(self) -> None:
        while True:
            with self._changed:
                while True:
                    if self._stopping:
                        return
                    now = time.monotonic()
                    due = [entry for entry in self._pending if entry[0] <= now]
                    if due:
                        self._pending = [e for e in self._pending if e[0] > now]
                        break
                    wait = min((e[0] for e in self._pending), default=None)
                    self._changed.wait(None if wait is None else wait - now)
            for _, action in due:
                retry = self._attempt(action)
                if retry is not None:
                    with self._changed:
                        self._pending.append((time.monotonic() + retry, action))

    @staticmethod
    def _attempt(action: Callable[[], float | None]) -> float | None:
        try:
            return action()
        except Exception:
            _log.exception("store clean-up action failed; it will not be retried")
            return None

    def close(self) -> None:
        """Stop the thread and run pending actions once now (no retries)."""
        with self._changed:
            self._stopping = True
            pending, self._pending = self._pending, []
            self._changed.notify_all()
            thread = self._thread
        if thread is not None:
            thread.join()
        for _, action in pending:
            self._attempt(action)
