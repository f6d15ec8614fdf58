"""Error policies: the one vocabulary for what happens to work that failed.

Dispatch (a failed batch) and pipe stages (a failed record) share these values:

* :class:`Halt` — stop. Dispatch raises :class:`~slither_stream.errors.DispatchError`
  with the results finished so far; a stage commits up to the last good record and
  stops with :class:`~slither_stream.pipe.StageHaltedError`. The default.
* :class:`Skip` — drop the failed work and carry on. ``on_skip(items, error)`` is
  called with each dropped dispatch batch.
* :class:`Retry` — try again, up to ``max_attempts`` times in total, waiting
  ``backoff * 2**(attempt-1)`` seconds (capped at ``max_backoff``) between attempts,
  then apply ``then`` (halt by default).
* :class:`DeadLetter` — pipe stages only: the original record goes to the stage's
  dead-letter topic ``<namespace>.<stage>.dlq`` with headers naming the stage, the
  error, the attempts and where the record was read. Routing *to an output* is a
  router's job, not an error policy's, which is why this is not called "route".
* :class:`Fallback` — dispatch only: the failed items go to a function whose results
  take the failed batch's place (a cheaper model, a default answer).

Policies are frozen values; one can be shared by many runs and stages. Strings name
the ones that need no arguments: ``"halt"``, ``"skip"``, ``"retry"`` (three attempts,
then halt) and ``"dead_letter"``.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from slither_stream.errors import ConfigError
from slither_stream.item import Item

SkipHandler = Callable[[list[Item], BaseException], None]
"""``on_skip(items, error)``: called once per skipped dispatch batch."""

FallbackHandler = Callable[[list[Item]], Sequence[Any]]
"""``handler(failed_items) -> results``: Items, or one payload per failed item."""

PolicyName = Literal["halt", "skip", "retry", "dead_letter"]
POLICY_NAMES: tuple[str, ...] = ("halt", "skip", "retry", "dead_letter")

Where = Literal["dispatch", "stage"]


class _Policy:
    """What every policy answers: its attempts and the policy applied after them."""

    __slots__ = ()

    @property
    def attempts(self) -> int:
        """How many times failing work is tried in total."""
        return 1

    @property
    def final(self) -> FinalPolicy:
        """The policy applied once the attempts are used up."""
        assert isinstance(self, Halt | Skip | DeadLetter | Fallback)
        return self


@dataclass(frozen=True)
class Halt(_Policy):
    """Stop at the first failure (nothing is lost: the failed work is not done)."""

    name = "halt"

    def describe(self) -> dict[str, Any]:
        return {"policy": "halt"}


@dataclass(frozen=True)
class Skip(_Policy):
    """Drop the failed work and carry on."""

    on_skip: SkipHandler | None = None
    name = "skip"

    def __post_init__(self) -> None:
        if self.on_skip is not None and not callable(self.on_skip):
            raise ConfigError(f"skip's on_skip must be callable, got {self.on_skip!r}")

    def describe(self) -> dict[str, Any]:
        return {"policy": "skip"}


@dataclass(frozen=True)
class DeadLetter(_Policy):
    """Send the failed record to its stage's dead-letter topic (pipe stages)."""

    name = "dead_letter"

    def describe(self) -> dict[str, Any]:
        return {"policy": "dead_letter"}


@dataclass(frozen=True)
class Fallback(_Policy):
    """Hand failed items to ``handler``; its results replace the batch's (dispatch)."""

    handler: FallbackHandler
    name = "fallback"

    def __post_init__(self) -> None:
        if not callable(self.handler):
            raise ConfigError(f"fallback needs a callable, got {self.handler!r}")

    def describe(self) -> dict[str, Any]:
        return {"policy": "fallback", "handler": getattr(self.handler, "__qualname__",
                                                         repr(self.handler))}


FinalPolicy = Halt | Skip | DeadLetter | Fallback
"""What a :class:`Retry` does once its attempts are used up: any policy but a retry."""


@dataclass(frozen=True)
class Retry(_Policy):
    """Try failed work again with exponential backoff, then apply ``then``."""

    max_attempts: int = 3
    backoff: float = 0.1
    max_backoff: float = 10.0
    then: FinalPolicy = field(default_factory=Halt)
    name = "retry"

    def __post_init__(self) -> None:
        attempts = self.max_attempts
        if isinstance(attempts, bool) or not isinstance(attempts, int) or attempts < 1:
            raise ConfigError(f"retry's max_attempts must be an int >= 1, got {attempts!r}")
        for name in ("backoff", "max_backoff"):
            value = getattr(self, name)
            if (isinstance(value, bool) or not isinstance(value, int | float)
                    or math.isnan(value) or value < 0):
                raise ConfigError(f"retry's {name} must be a number >= 0 seconds, "
                                  f"got {value!r}")
        if not isinstance(self.then, Halt | Skip | DeadLetter | Fallback):
            raise ConfigError(f"retry's then must be halt, skip, dead_letter or "
                              f"fallback(fn), got {self.then!r}")

    @property
    def attempts(self) -> int:
        return self.max_attempts

    @property
    def final(self) -> FinalPolicy:
        return self.then

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        return float(min(self.max_backoff, self.backoff * 2 ** (attempt - 1)))

    def describe(self) -> dict[str, Any]:
        return {"policy": "retry", "max_attempts": self.max_attempts,
                "backoff": self.backoff, "then": self.then.describe()["policy"]}


ErrorPolicy = Halt | Skip | Retry | DeadLetter | Fallback
"""Any error policy: :class:`Halt`, :class:`Skip`, :class:`Retry`, :class:`DeadLetter`
or :class:`Fallback` (see the module docstring for where each applies)."""

POLICY_TYPES = (Halt, Skip, Retry, DeadLetter, Fallback)


def halt() -> Halt:
    """The ``halt`` policy (the default)."""
    return Halt()


def skip(on_skip: SkipHandler | None = None) -> Skip:
    """The ``skip`` policy; ``on_skip(items, error)`` receives each dropped batch."""
    return Skip(on_skip)


def dead_letter() -> DeadLetter:
    """The ``dead_letter`` policy: failed records go to the stage's dead-letter topic."""
    return DeadLetter()


def fallback(handler: FallbackHandler) -> Fallback:
    """The ``fallback`` policy: failed items go to ``handler``, whose results are used."""
    return Fallback(handler)


def retry(max_attempts: int = 3, backoff: float = 0.1, *, max_backoff: float = 10.0,
          then: FinalPolicy | str = "halt") -> Retry:
    """Retry up to ``max_attempts`` times in total, then apply ``then``."""
    chosen = parse_policy(then, option="retry's then")
    if isinstance(chosen, Retry):
        raise ConfigError("retry's then must be halt, skip, dead_letter or fallback(fn), "
                          "not another retry")
    return Retry(max_attempts, backoff, max_backoff, chosen)


def route(handler: FallbackHandler) -> Fallback:
    """Deprecated name of :func:`fallback`."""
    warnings.warn("dispatch.route(fn) is now dispatch.fallback(fn); 'route' is kept for "
                  "one release", DeprecationWarning, stacklevel=2)
    return fallback(handler)


def parse_policy(value: object, *, option: str = "on_error",
                 where: Where | None = None) -> ErrorPolicy:
    """A policy from a policy value or a name (see the module docstring).

    ``where`` refuses the policies that do not apply there: ``dead_letter`` outside a
    pipe stage (dispatch has no log to write to), ``fallback`` in a stage. The old
    stage name ``"route"`` (the dead-letter topic) is accepted with a warning.
    """
    if where == "dispatch" and isinstance(value, str) and value.strip().lower() == "route":
        raise ConfigError(f"{option}='route' needs a function in dispatch: use "
                          "dispatch.fallback(fn) (the results of fn replace the failed batch)")
    policy = _policy_of(value, option=option, where=where)
    leaf = policy.final
    if where == "dispatch" and isinstance(leaf, DeadLetter):
        raise ConfigError(f"{option}: dead_letter needs a pipe stage's dead-letter topic; "
                          "in dispatch use skip(on_skip=...) or fallback(fn)")
    if where == "stage" and isinstance(leaf, Fallback):
        raise ConfigError(f"{option}: fallback(fn) is a dispatch policy; pipe stages use "
                          "halt, skip, retry(...) or dead_letter")
    if where == "stage" and isinstance(leaf, Skip) and leaf.on_skip is not None:
        raise ConfigError(f"{option}: skip(on_skip=...) reports dispatch batches; a pipe "
                          "stage logs each skipped record (or use dead_letter to keep it)")
    return policy


def _policy_of(value: object, *, option: str, where: Where | None) -> ErrorPolicy:
    if isinstance(value, POLICY_TYPES):
        return value
    if isinstance(value, str):
        name = value.strip().lower()
        if name == "halt":
            return Halt()
        if name == "skip":
            return Skip()
        if name == "retry":
            return Retry()
        if name in ("dead_letter", "dead-letter", "dlq"):
            return DeadLetter()
        if name == "route":
            warnings.warn(f"{option}='route' is now 'dead_letter' (the stage's dead-letter "
                          "topic); 'route' is kept for one release", DeprecationWarning,
                          stacklevel=4)
            return DeadLetter()
    choices = {"stage": "'halt', 'skip', 'retry', 'dead_letter' or retry(...)",
               "dispatch": "'halt', 'skip', 'retry', retry(...) or fallback(fn)"}.get(
        where or "", "'halt', 'skip', 'retry', 'dead_letter', retry(...) or fallback(fn)")
    raise ConfigError(f"unknown error policy {value!r} for {option}: expected {choices}")
