"""Error policies: what a run does when a batch fails.

* :class:`Halt` — stop the run and raise :class:`~slither_stream.errors.DispatchError`
  carrying the results finished so far (``partial``) and the failure (``cause``).
* :class:`Skip` — drop the batch's items from the results. Each dropped item gets an
  ``error`` entry in its ``meta`` (kind, reason, batch_ref, attempts); the items are
  handed to ``on_skip(items, error)`` when given, and a
  ``("slither", "dispatch", "batch", "skip")`` telemetry event carries their ids.
* :class:`Retry` — run the batch again up to ``max_attempts`` times in total, waiting
  ``backoff * 2**(attempt-1)`` seconds (capped at ``max_backoff``) between attempts,
  then apply ``then`` (halt, skip or route).
* :class:`Route` — hand the failed items (with the same ``error`` meta) to a
  compensation function; what it returns takes the batch's place in the results.

Policies are plain frozen values, so one can be shared by many runs.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from slither_stream.errors import ConfigError
from slither_stream.item import Item

SkipHandler = Callable[[list[Item], BaseException], None]
"""``on_skip(items, error)``: called once per skipped batch, on the consuming thread."""

RouteHandler = Callable[[list[Item]], Sequence[Any]]
"""``handler(failed_items) -> results``: Items, or one payload per failed item."""


@dataclass(frozen=True)
class Halt:
    """Stop the run at the first failed batch."""


@dataclass(frozen=True)
class Skip:
    """Drop failed batches, reporting them through meta, ``on_skip`` and telemetry."""

    on_skip: SkipHandler | None = None

    def __post_init__(self) -> None:
        if self.on_skip is not None and not callable(self.on_skip):
            raise ConfigError(f"skip on_skip must be callable, got {self.on_skip!r}")


@dataclass(frozen=True)
class Route:
    """Send failed items to a compensation function whose results are used."""

    handler: RouteHandler

    def __post_init__(self) -> None:
        if not callable(self.handler):
            raise ConfigError(f"route needs a callable, got {self.handler!r}")


FinalPolicy = Halt | Skip | Route


@dataclass(frozen=True)
class Retry:
    """Retry a failed batch with exponential backoff, then apply ``then``."""

    max_attempts: int = 3
    backoff: float = 0.1
    max_backoff: float = 10.0
    then: FinalPolicy = field(default_factory=Halt)

    def __post_init__(self) -> None:
        attempts = self.max_attempts
        if isinstance(attempts, bool) or not isinstance(attempts, int) or attempts < 1:
            raise ConfigError(f"retry max_attempts must be an int >= 1, got {attempts!r}")
        for name in ("backoff", "max_backoff"):
            value = getattr(self, name)
            if (isinstance(value, bool) or not isinstance(value, int | float)
                    or math.isnan(value) or value < 0):
                raise ConfigError(f"retry {name} must be a number >= 0 seconds, got {value!r}")
        if not isinstance(self.then, Halt | Skip | Route):
            raise ConfigError(
                f"retry then must be halt, skip or route(fn), got {self.then!r}")

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        return float(min(self.max_backoff, self.backoff * 2 ** (attempt - 1)))


ErrorPolicy = Halt | Skip | Retry | Route


def halt() -> Halt:
    """The ``halt`` policy (the default)."""
    return Halt()


def skip(on_skip: SkipHandler | None = None) -> Skip:
    """The ``skip`` policy; ``on_skip(items, error)`` receives each dropped batch."""
    return Skip(on_skip)


def retry(max_attempts: int = 3, backoff: float = 0.1, *, max_backoff: float = 10.0,
          then: FinalPolicy | str = "halt") -> Retry:
    """Retry up to ``max_attempts`` times in total, then apply ``then``."""
    final = parse_policy(then, option="retry then")
    if isinstance(final, Retry):
        raise ConfigError("retry then must be halt, skip or route(fn), not another retry")
    return Retry(max_attempts, backoff, max_backoff, final)


def route(handler: RouteHandler) -> Route:
    """The ``route`` policy: failed items go to ``handler``."""
    return Route(handler)


def parse_policy(value: object, *, option: str = "on_error") -> ErrorPolicy:
    """Accept a policy object or the names ``"halt"``, ``"skip"``, ``"retry"``."""
    if isinstance(value, Halt | Skip | Retry | Route):
        return value
    if isinstance(value, str):
        name = value.strip().lower()
        if name == "halt":
            return Halt()
        if name == "skip":
            return Skip()
        if name == "retry":
            return Retry()
        if name == "route":
            raise ConfigError(
                f"{option}='route' needs a compensation function: use "
                "dispatch.route(fn)")
    raise ConfigError(
        f"{option} must be 'halt', 'skip', 'retry', dispatch.retry(...) or "
        f"dispatch.route(fn), got {value!r}")
