"""Repeated log lines of the Kafka clients, folded.

While a broker is unreachable librdkafka reports every reconnect attempt, as a
``FAIL`` log line and again through the error callback: about twenty lines a
second per client in the broker-restart test (4,000 lines for one five-second
outage of two workers), which buries everything else in a worker's log.
:class:`RepeatFilter` lets the first line of a kind through, drops the repeats for
``window`` seconds, and says how many it dropped on the next one it lets through.

Lines are of a kind when they have the same level and the same text once the
numbers that change from one attempt to the next (durations, counts, addresses) are
masked; a client's name (``rdkafka#consumer-6``) is kept, so each client still
reports its own trouble.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable

DEFAULT_WINDOW_S = 10.0
"""How long repeats of a line are dropped after it was logged."""

_VARYING = re.compile(r"(?<![-#\w])\d+")
"""Numbers that are not part of a name (``consumer-6``, ``ipv4#127``, ``lz4``)."""


class RepeatFilter(logging.Filter):
    """Drops a log line seen less than ``window`` seconds ago (see the module
    docstring); remembers at most ``max_kinds`` kinds of line."""

    def __init__(self, window: float = DEFAULT_WINDOW_S, *,
                 clock: Callable[[], float] = time.monotonic, max_kinds: int = 512) -> None:
        super().__init__()
        if window < 0:
            raise ValueError(f"window must be a non-negative number of seconds, got {window!r}")
        self.window = window
        self._clock = clock
        self._max_kinds = max_kinds
        self._lock = threading.Lock()
        self._kinds: dict[tuple[int, str], list[float]] = {}
        """Per kind: [when it was last let through, repeats dropped since]."""

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        kind = (record.levelno, _VARYING.sub("#", text))
        now = self._clock()
        with self._lock:
            seen = self._kinds.get(kind)
            if seen is not None and now - seen[0] < self.window:
                seen[1] += 1
                return False
            dropped = int(seen[1]) if seen is not None else 0
            if seen is None and len(self._kinds) >= self._max_kinds:
                self._forget_old(now)
            self._kinds[kind] = [now, 0]
        if dropped:
            record.msg = (f"{text} ({dropped} more like this in the {self.window:g} s "
                          "before were not logged)")
            record.args = None
        return True

    def _forget_old(self, now: float) -> None:
        """Forget the kinds whose window is over; all of them if none is."""
        expired = [kind for kind, (last, _dropped) in self._kinds.items()
                   if now - last >= self.window]
        for kind in expired or list(self._kinds):
            del self._kinds[kind]
