"""Readiness: is this process ready to serve, and if not, what is it waiting for?

A worker is not ready until its stores are restored: a stage that reads a half
restored table would compute with stale state. The worker registers what it waits
for before it starts restoring, marks each one done, and finally says it has
registered everything::

    readiness = Readiness()
    readiness.wait_for("store:features", "store:users")
    ...                              # restore, then:
    readiness.done("store:features")
    readiness.done("store:users")
    readiness.set_started()          # nothing else to wait for

The process is ready once ``set_started()`` was called and nothing is pending.
``/healthz`` answers 503 until then; :meth:`Readiness.wait` lets code (and tests)
block until ready without polling.
"""

from __future__ import annotations

import threading

from slither_stream.errors import ConfigError


class Readiness:
    """Thread-safe readiness state: pending conditions plus a "started" flag."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._pending: set[str] = set()
        self._started = False

    def wait_for(self, *names: str) -> None:
        """Add conditions that must be marked :meth:`done` before the process is ready."""
        for name in names:
            if not isinstance(name, str) or not name:
                raise ConfigError(f"readiness condition must be a non-empty string, got {name!r}")
        with self._condition:
            self._pending.update(names)

    def done(self, name: str) -> None:
        """Mark the condition ``name`` as met."""
        with self._condition:
            if name not in self._pending:
                raise ConfigError(
                    f"readiness condition {name!r} is not pending "
                    f"(pending: {sorted(self._pending) or 'none'})"
                )
            self._pending.discard(name)
            self._condition.notify_all()

    def set_started(self) -> None:
        """Say that every condition has been registered; ready once none is pending."""
        with self._condition:
            self._started = True
            self._condition.notify_all()

    def is_ready(self) -> bool:
        """True once started and nothing is pending."""
        with self._condition:
            return self._ready_locked()

    def pending(self) -> list[str]:
        """What the process still waits for, sorted; ``["startup"]`` before started."""
        with self._condition:
            waiting = sorted(self._pending)
            return waiting if self._started else ["startup", *waiting]

    def wait(self, timeout: float | None = None) -> bool:
        """Block until ready or ``timeout`` seconds pass; True if ready."""
        with self._condition:
            return self._condition.wait_for(self._ready_locked, timeout)

    def _ready_locked(self) -> bool:
        return self._started and not self._pending
