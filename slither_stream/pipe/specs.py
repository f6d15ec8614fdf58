"""Plain, validated descriptions of what a pipe declares.

These are the values the :class:`~slither_stream.pipe.declaration.Pipe` builder
records and the compiled :class:`~slither_stream.pipe.definition.PipeDefinition`
exposes. They carry no runtime state, so a definition can be printed, compared and
shipped to a worker process.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from slither_stream.errors import ConfigError
from slither_stream.item import Item

StageKind = Literal["local", "compute", "router"]
STAGE_KINDS: tuple[str, ...] = get_args(StageKind)

PolicyName = Literal["halt", "skip", "retry", "route"]
POLICY_NAMES: tuple[str, ...] = get_args(PolicyName)

Delivery = Literal["at_least_once", "exactly_once"]
DELIVERIES: tuple[str, ...] = get_args(Delivery)

Ordering = Literal["preserve", "as_completed"]
ORDERINGS: tuple[str, ...] = get_args(Ordering)

Cardinality = Literal["one", "many"]
CARDINALITIES: tuple[str, ...] = get_args(Cardinality)

Predicate = Callable[[Item], bool]
LocalHandler = Callable[[Item, Any], Any]
BatchHandler = Callable[[list[Item], Any], Any]

DEFAULT_OUTPUT = "default"
WILDCARD = "*"


@dataclass(frozen=True)
class ErrorPolicy:
    """What a stage does with an item (or batch) that failed.

    * ``halt``  — stop the stage; offsets stay committed up to the last good record.
    * ``skip``  — drop the item and carry on (its offset is committed).
    * ``retry`` — try again up to ``max_attempts`` times in total, then apply ``then``
      (``halt``, ``skip`` or ``route``).
    * ``route`` — send the original record to the stage's dead-letter topic with
      headers describing the failure, and carry on.
    """

    policy: PolicyName = "halt"
    max_attempts: int = 3
    then: PolicyName = "route"

    def __post_init__(self) -> None:
        if self.policy not in POLICY_NAMES:
            raise ConfigError(
                f"unknown error policy {self.policy!r}; expected one of {', '.join(POLICY_NAMES)}"
            )
        if self.then not in POLICY_NAMES or self.then == "retry":
            raise ConfigError(
                f"retry's fallback 'then' must be halt, skip or route, not {self.then!r}"
            )
        if isinstance(self.max_attempts, bool) or not isinstance(self.max_attempts, int) \
                or self.max_attempts < 1:
            raise ConfigError(f"max_attempts must be an integer >= 1, not {self.max_attempts!r}")

    @property
    def attempts(self) -> int:
        """How many times a failing item is tried in total."""
        return self.max_attempts if self.policy == "retry" else 1

    @property
    def final(self) -> PolicyName:
        """The policy applied once attempts are exhausted."""
        return self.then if self.policy == "retry" else self.policy

    def describe(self) -> dict[str, Any]:
        if self.policy == "retry":
            return {"policy": "retry", "max_attempts": self.max_attempts, "then": self.then}
        return {"policy": self.policy}


@dataclass(frozen=True)
class RouteSpec:
    """One router rule: the first predicate that returns true names the output."""

    predicate: Predicate
    output: str

    @property
    def predicate_name(self) -> str:
        return _callable_name(self.predicate)


@dataclass(frozen=True)
class StageSpec:
    """One declared stage. ``options`` holds the kind-specific settings.

    * local: ``handler``, ``batch_handler``, ``cardinality``, ``batch_size``
    * compute: ``function`` (a callable or ``"module:function"``), ``batch_size``,
      ``max_in_flight`` and any other dispatch option, passed through unchanged
    * router: ``routes`` (a tuple of :class:`RouteSpec`)
    """

    name: str
    kind: StageKind
    options: Mapping[str, Any] = field(default_factory=dict)

    def option(self, name: str, default: Any = None) -> Any:
        return self.options.get(name, default)

    @property
    def batch_size(self) -> int:
        value = self.options.get("batch_size", 100)
        return int(value)

    @property
    def routes(self) -> tuple[RouteSpec, ...]:
        routes: tuple[RouteSpec, ...] = self.options.get("routes", ())
        return routes

    def describe(self) -> dict[str, Any]:
        """JSON-friendly summary of the options (callables by qualified name)."""
        shown: dict[str, Any] = {}
        for key, value in self.options.items():
            if key == "routes":
                shown[key] = [{"when": r.predicate_name, "output": r.output} for r in value]
            elif isinstance(value, (str, int, float, bool)) or value is None:
                shown[key] = value
            elif callable(value) and hasattr(value, "__qualname__"):
                shown[key] = _callable_name(value)
            else:
                shown[key] = repr(value)  # executor or strategy objects
        return shown


@dataclass(frozen=True)
class StoreSpec:
    """A store the pipe registers for each run (its views become session views)."""

    name: str
    store: Any
    options: Mapping[str, Any] = field(default_factory=dict)

    @property
    def store_name(self) -> str:
        return _callable_name(self.store) if callable(self.store) else repr(self.store)


def _callable_name(value: Any) -> str:
    module = getattr(value, "__module__", None)
    qualname = getattr(value, "__qualname__", None) or getattr(value, "__name__", None)
    if qualname is None:
        return repr(value)
    return f"{module}:{qualname}" if module else str(qualname)
