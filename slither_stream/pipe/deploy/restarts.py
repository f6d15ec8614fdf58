"""Restart intensity: how many restarts a supervisor allows within a time window.

Erlang/OTP's rule (a supervisor's ``intensity`` and ``period``): a
supervisor that had to restart children more than ``max_restarts`` times within
``max_seconds`` gives up, because something is wrong that restarting does not fix.
A lifetime count would instead make a long-lived supervisor give up after its tenth
unrelated crash in a month; a window forgets old restarts.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

from slither_stream.errors import ConfigError


class RestartWindow:
    """Allows at most ``max_restarts`` restarts within any ``max_seconds``."""

    def __init__(self, max_restarts: int, max_seconds: float, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if isinstance(max_restarts, bool) or not isinstance(max_restarts, int) \
                or max_restarts < 0:
            raise ConfigError(f"max_restarts must be an integer >= 0, not {max_restarts!r}")
        if isinstance(max_seconds, bool) or not isinstance(max_seconds, int | float) \
                or max_seconds <= 0:
            raise ConfigError(f"max_seconds must be a positive number, not {max_seconds!r}")
        self.max_restarts = max_restarts
        self.max_seconds = float(max_seconds)
        self._clock = clock
        self._recent: deque[float] = deque()

    def allow(self) -> bool:
        """Record a restart and return True, or return False if it would be one too
        many within the window (the caller gives up)."""
        now = self._clock()
        while self._recent and now - self._recent[0] >= self.max_seconds:
            self._recent.popleft()
        if len(self._recent) >= self.max_restarts:
            return False
        self._recent.append(now)
        return True

    @property
    def recent(self) -> int:
        """Restarts recorded within the window, as of the last :meth:`allow`."""
        return len(self._recent)
