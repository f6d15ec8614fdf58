"""Backpressure between stages is consumer lag.

A stage pauses its input partitions while the stage after it lags by more than
``max_lag`` records on its input topic, and resumes once that lag is at most
``resume_lag`` (hysteresis, so it does not flap). Lag is measured from the log
(``Log.total_lag``: the records the downstream group would still receive past its
committed offsets, transaction markers not counted), the same figure an operator
sees, at most every ``interval`` seconds so the check stays cheap.
"""

from __future__ import annotations

import logging
import time

from slither_stream import telemetry
from slither_stream.errors import LogError
from slither_stream.log.base import Log

_log = logging.getLogger(__name__)

BACKPRESSURE = ("slither", "pipe", "backpressure")


class LagGate:
    """Decides pause/resume for one stage from its downstream stage's lag."""

    def __init__(self, log: Log, *, pipe: str, stage: str, downstream_group: str,
                 downstream_topic: str, max_lag: int, resume_lag: int,
                 interval: float = 0.2) -> None:
        if not 0 <= resume_lag <= max_lag:
            raise ValueError(f"resume_lag must be in [0, max_lag], got {resume_lag}")
        self.log = log
        self.pipe = pipe
        self.stage = stage
        self.downstream_group = downstream_group
        self.downstream_topic = downstream_topic
        self.max_lag = max_lag
        self.resume_lag = resume_lag
        self.interval = interval
        self.closed = False
        """True while the stage should be paused."""
        self.last_lag: int | None = None
        self.pauses = 0
        self.resumes = 0
        self.max_seen_lag = 0
        self._checked_at = float("-inf")

    def due(self) -> bool:
        """True when the next :meth:`update` measures the lag instead of reusing it."""
        return time.monotonic() - self._checked_at >= self.interval

    def update(self, *, force: bool = False) -> bool:
        """Measure the downstream lag if due; return True while the stage must pause."""
        now = time.monotonic()
        if not force and now - self._checked_at < self.interval:
            return self.closed
        self._checked_at = now
        try:
            lag = self.log.total_lag(self.downstream_group, self.downstream_topic)
        except LogError as error:
            # Transient (a topic just created, a leader moving): keep the current
            # decision and measure again at the next interval.
            _log.debug("stage %s: cannot measure downstream lag yet: %s", self.stage, error)
            return self.closed
        self.last_lag = lag
        self.max_seen_lag = max(self.max_seen_lag, lag)
        if not self.closed and lag > self.max_lag:
            self.closed = True
            self.pauses += 1
            self._emit("pause", lag)
        elif self.closed and lag <= self.resume_lag:
            self.closed = False
            self.resumes += 1
            self._emit("resume", lag)
        return self.closed

    def _emit(self, action: str, lag: int) -> None:
        telemetry.execute((*BACKPRESSURE, action), {"lag": float(lag)},
                          {"pipe": self.pipe, "stage": self.stage,
                           "downstream_group": self.downstream_group,
                           "max_lag": self.max_lag, "resume_lag": self.resume_lag})
