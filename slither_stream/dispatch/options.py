"""Dispatch options: validated once at the edge into :class:`DispatchOptions`.

This is the one place defaults live. A value comes from, in order of precedence:

1. the keyword given to ``run`` / ``stream`` / ``call_batch``;
2. :func:`configure` (process-wide, e.g. set once at start-up);
3. the environment: ``SLITHER_DISPATCH_BATCH_SIZE``, ``SLITHER_DISPATCH_MAX_IN_FLIGHT``,
   ``SLITHER_DISPATCH_TIMEOUT`` (seconds), ``SLITHER_DISPATCH_ORDERING``,
   ``SLITHER_DISPATCH_ON_ERROR`` (``halt`` | ``skip`` | ``retry``);
4. the built-in defaults: batch_size 64, max_in_flight 8,
   ordering ``preserve``, on_error ``halt``, timeout 30 s, strategy FixedBatch.

Unknown options, wrong types and out-of-range values raise
:class:`~slither_stream.errors.ConfigError` naming the option.

``ordering="preserve"`` yields results batch by batch in the order the strategy made
the batches, items in batch order: that is input order for FixedBatch and
WeightedBatch, and grouped by key (keys in first-appearance order) for KeyPartition.
``"as_completed"`` yields each batch's results as soon as it finishes.
"""

from __future__ import annotations

import difflib
import math
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from slither_stream.context import Context
from slither_stream.dispatch.executors.base import Executor
from slither_stream.dispatch.strategies import FixedBatch, Strategy
from slither_stream.errors import ConfigError
from slither_stream.policies import ErrorPolicy, parse_policy

Ordering = Literal["preserve", "as_completed"]
ORDERINGS: tuple[Ordering, ...] = ("preserve", "as_completed")

BUILTIN_DEFAULTS: dict[str, Any] = {
    "batch_size": 64,
    "max_in_flight": 8,
    "ordering": "preserve",
    "on_error": "halt",
    "timeout": 30.0,
}
OPTION_NAMES = ("executor", "strategy", "batch_size", "max_in_flight", "ordering",
                "on_error", "timeout", "context")
CONFIGURABLE = ("strategy", "batch_size", "max_in_flight", "ordering", "on_error", "timeout")
ENV_PREFIX = "SLITHER_DISPATCH_"
_ENV_OPTIONS = ("batch_size", "max_in_flight", "timeout", "ordering", "on_error")

_configured: dict[str, Any] = {}
_configured_lock = threading.Lock()


@dataclass(frozen=True)
class DispatchOptions:
    """Every option of one dispatch call, validated. ``timeout`` is seconds per batch
    (None: no limit)."""

    executor: Executor
    strategy: Strategy
    batch_size: int
    max_in_flight: int
    ordering: Ordering
    on_error: ErrorPolicy
    timeout: float | None
    context: Context | None


def _positive_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"option {name!r} must be an int, got {type(value).__name__} "
                          f"{value!r}")
    if value < 1:
        raise ConfigError(f"option {name!r} must be >= 1, got {value}")
    return value


def _timeout(value: object) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"option 'timeout' must be a number of seconds or None, got "
                          f"{type(value).__name__} {value!r}")
    if math.isnan(value) or value <= 0:
        raise ConfigError(f"option 'timeout' must be > 0 seconds, got {value}")
    return float(value)


def _ordering(value: object) -> Ordering:
    for choice in ORDERINGS:
        if value == choice:
            return choice
    raise ConfigError(f"option 'ordering' must be one of {list(ORDERINGS)}, got {value!r}")


def _strategy(value: object) -> Strategy:
    if isinstance(value, type):
        cls_name = value.__name__
        try:
            value = value()
        except TypeError as error:
            raise ConfigError(
                f"option 'strategy': {cls_name} needs arguments; pass an instance, "
                f"for example {cls_name}(...) ({error})") from error
    if not isinstance(value, Strategy):
        raise ConfigError(f"option 'strategy' must have a batches(items, batch_size) method "
                          f"(FixedBatch, WeightedBatch, KeyPartition), got {value!r}")
    return value


def _executor(value: object) -> Executor:
    if value is None:
        raise ConfigError("option 'executor' is required (Inline, Threads, Processes or "
                          "Topic)")
    if not callable(getattr(value, "execute_batch", None)):
        raise ConfigError(f"option 'executor' must have an execute_batch(batch, ctx, opts) "
                          f"method, got {value!r}")
    executor: Executor = value  # type: ignore[assignment]
    return executor


def _context(value: object) -> Context | None:
    if value is not None and not isinstance(value, Context):
        raise ConfigError(f"option 'context' must be a slither_stream.Context, got {value!r}")
    return value


def _check_names(given: Mapping[str, Any], allowed: tuple[str, ...], where: str) -> None:
    for name in given:
        if name not in allowed:
            close = difflib.get_close_matches(name, allowed, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else \
                f"; known options: {', '.join(allowed)}"
            raise ConfigError(f"unknown {where} option {name!r}{hint}")


def _validate_value(name: str, value: Any) -> Any:
    if name in ("batch_size", "max_in_flight"):
        return _positive_int(name, value)
    if name == "timeout":
        return _timeout(value)
    if name == "ordering":
        return _ordering(value)
    if name == "on_error":
        return parse_policy(value, where="dispatch")
    if name == "strategy":
        return _strategy(value)
    raise ConfigError(f"option {name!r} cannot be configured")


def _from_env(name: str) -> Any:
    variable = ENV_PREFIX + name.upper()
    raw = os.environ.get(variable)
    if raw is None or raw.strip() == "":
        return None
    text = raw.strip()
    try:
        if name in ("batch_size", "max_in_flight"):
            return _positive_int(name, int(text))
        if name == "timeout":
            return _timeout(float(text))
        return _validate_value(name, text)
    except (ValueError, ConfigError) as error:
        raise ConfigError(f"environment variable {variable}={raw!r} is invalid: "
                          f"{error}") from error


def configure(**defaults: Any) -> None:
    """Set process-wide defaults (validated now) for later dispatch calls.

    ``configure(batch_size=None)`` removes a configured default again.
    """
    _check_names(defaults, CONFIGURABLE, "configurable dispatch")
    validated = {name: _validate_value(name, value)
                 for name, value in defaults.items() if value is not None}
    with _configured_lock:
        for name, value in defaults.items():
            if value is None:
                _configured.pop(name, None)
        _configured.update(validated)


def reset_configuration() -> None:
    """Forget everything :func:`configure` set."""
    with _configured_lock:
        _configured.clear()


def current_defaults() -> dict[str, Any]:
    """The defaults a call without options would use right now (env included)."""
    resolved: dict[str, Any] = {}
    for name in CONFIGURABLE:
        with _configured_lock:
            value = _configured.get(name)
        if value is None and name in _ENV_OPTIONS:
            value = _from_env(name)
        if value is None:
            value = BUILTIN_DEFAULTS.get(name)
        resolved[name] = value
    return resolved


def build_options(given: Mapping[str, Any]) -> DispatchOptions:
    """Validate keyword options and fill the rest from the defaults."""
    _check_names(given, OPTION_NAMES, "dispatch")
    merged = current_defaults()
    for name, value in given.items():
        if name in CONFIGURABLE:
            merged[name] = _validate_value(name, value) if not (
                name == "timeout" and value is None) else None
    strategy = merged["strategy"]
    return DispatchOptions(
        executor=_executor(given.get("executor")),
        strategy=FixedBatch() if strategy is None else _strategy(strategy),
        batch_size=_positive_int("batch_size", merged["batch_size"]),
        max_in_flight=_positive_int("max_in_flight", merged["max_in_flight"]),
        ordering=_ordering(merged["ordering"]),
        on_error=parse_policy(merged["on_error"], where="dispatch"),
        timeout=_timeout(merged["timeout"]),
        context=_context(given.get("context")),
    )
