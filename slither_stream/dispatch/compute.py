"""The compute contract, shared by every executor and by the worker side.

A compute function takes a list of payloads and returns a list of results of the same
length and order. This module resolves ``"module:function"`` names, enforces the
contract with errors that name the function, and defines :class:`BatchComputeError`,
the one error type every executor raises for a failed batch.
"""

from __future__ import annotations

import importlib
import re
import traceback
from collections.abc import Callable, Sequence
from typing import Any, Literal

from slither_stream.errors import ComputeError, ConfigError
from slither_stream.item import Item

ComputeFunction = Callable[[list[Any]], Sequence[Any]]

FailureReason = Literal["raised", "contract", "crashed", "timed_out", "unavailable"]

_SPEC = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")


class BatchComputeError(ComputeError):
    """A batch failed in user compute code or in the worker running it.

    ``reason`` says how: ``raised`` (the function raised), ``contract`` (it returned
    something that is not one result per payload), ``crashed`` (the worker process
    died), ``timed_out`` (the batch outlived the timeout and the worker was killed),
    ``unavailable`` (no worker could be started or reached). ``remote_traceback`` is
    the traceback text from where the function ran, when there was one.
    """

    def __init__(self, message: str, *, function: str, reason: FailureReason,
                 error_type: str | None = None, remote_traceback: str | None = None,
                 worker_pid: int | None = None) -> None:
        self.function = function
        self.reason: FailureReason = reason
        self.error_type = error_type
        self.remote_traceback = remote_traceback
        self.worker_pid = worker_pid
        super().__init__(message)

    def __str__(self) -> str:
        text = str(self.args[0]) if self.args else ""
        if self.remote_traceback:
            return f"{text}\n--- traceback from the compute worker ---\n" \
                   f"{self.remote_traceback.rstrip()}"
        return text

    def __reduce__(self) -> tuple[Any, ...]:
        state = {"function": self.function, "reason": self.reason,
                 "error_type": self.error_type, "remote_traceback": self.remote_traceback,
                 "worker_pid": self.worker_pid}
        return (_rebuild_error, (self.args[0], state))


def _rebuild_error(message: str, state: dict[str, Any]) -> BatchComputeError:
    return BatchComputeError(message, **state)


def check_spec(spec: str) -> str:
    """Validate the ``"module:function"`` form (``function`` may be dotted)."""
    if not isinstance(spec, str) or not _SPEC.match(spec):
        raise ConfigError(
            f"compute function must be named 'module:function' (for example "
            f"'my_model:predict_batch'), got {spec!r}")
    if spec.split(":", 1)[0] == "__main__":
        raise ConfigError(
            f"compute function {spec!r} lives in __main__, which worker processes cannot "
            "import; move it into an importable module")
    return spec


def spec_of(function: Callable[..., Any] | str) -> str:
    """The ``"module:function"`` name of a function, for workers that import it."""
    if isinstance(function, str):
        return check_spec(function)
    module = getattr(function, "__module__", None)
    qualname = getattr(function, "__qualname__", None)
    if not module or not qualname or "<" in qualname:
        raise ConfigError(
            f"{function!r} cannot be imported by a worker (lambdas and nested functions "
            "have no importable name); pass a module-level function or 'module:function'")
    return check_spec(f"{module}:{qualname}")


def name_of(function: Callable[..., Any] | str) -> str:
    """A readable name for messages: the spec, or ``module:qualname``."""
    if isinstance(function, str):
        return function
    module = getattr(function, "__module__", "?")
    return f"{module}:{getattr(function, '__qualname__', repr(function))}"


def resolve(spec: str) -> ComputeFunction:
    """Import ``"module:function"`` and return the callable."""
    module_name, _, attribute_path = check_spec(spec).partition(":")
    try:
        target: Any = importlib.import_module(module_name)
    except ImportError as error:
        raise ConfigError(f"cannot import module {module_name!r} for compute function "
                          f"{spec!r}: {error}") from error
    for part in attribute_path.split("."):
        try:
            target = getattr(target, part)
        except AttributeError as error:
            raise ConfigError(f"compute function {spec!r} not found: {module_name} has no "
                              f"attribute {attribute_path!r}") from error
    if not callable(target):
        raise ConfigError(f"compute function {spec!r} is not callable: {target!r}")
    function: ComputeFunction = target
    return function


def check_results(function: str, sent: int, results: object) -> list[Any]:
    """Enforce one result per payload, as a list; raise :class:`BatchComputeError`."""
    if not isinstance(results, list | tuple):
        raise BatchComputeError(
            f"compute function {function} returned {type(results).__name__}, expected a "
            f"list of {sent} results (one per payload, in order)",
            function=function, reason="contract")
    if len(results) != sent:
        raise BatchComputeError(
            f"compute function {function} returned {len(results)} results for {sent} "
            "payloads; the contract is one result per payload, in order",
            function=function, reason="contract")
    return list(results)


def call_checked(function: ComputeFunction, name: str, payloads: list[Any]) -> list[Any]:
    """Call ``function`` on ``payloads``; wrap what it raises in :class:`BatchComputeError`."""
    try:
        results = function(payloads)
    except Exception as error:
        raise BatchComputeError(
            f"compute function {name} raised {type(error).__name__}: {error}",
            function=name, reason="raised", error_type=type(error).__name__,
            remote_traceback=traceback.format_exc()) from error
    return check_results(name, len(payloads), results)


def to_items(batch: Sequence[Item], results: Sequence[Any]) -> list[Item]:
    """Each item with its result as the new payload (id, key, meta, route kept).

    Builds the items directly rather than through ``Item.update_payload`` (which uses
    ``dataclasses.replace``): this runs once per result and is most of the per-item
    cost of a cheap batch."""
    return [Item(item.id, result, item.key, item.meta, item.route)
            for item, result in zip(batch, results, strict=True)]
