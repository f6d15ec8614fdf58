"""Typed, validated descriptions of what a pipe declares, with every default.

These are the values the :class:`~slither_stream.pipe.declaration.Pipe` builder
records and the compiled :class:`~slither_stream.pipe.definition.PipeDefinition`
exposes. They carry no runtime state, so a definition can be printed, compared and
shipped to a worker process. Defaults live here and nowhere else: the builder's
keyword arguments default to ``None`` for "the default below".

A stage is one of :class:`LocalSpec`, :class:`ComputeSpec` and :class:`RouterSpec`,
all :class:`StageSpec`; the pipe-wide settings are :class:`PipeSettings`. Each
validates itself when built and raises :class:`~slither_stream.errors.ConfigError`
naming the stage and the option.
"""

from __future__ import annotations

import re
from abc import ABC
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar, Literal, get_args

from slither_stream.errors import ConfigError
from slither_stream.item import Item

StageKind = Literal["local", "compute", "router"]
STAGE_KINDS: tuple[str, ...] = get_args(StageKind)

Delivery = Literal["at_least_once", "exactly_once"]
DELIVERIES: tuple[str, ...] = get_args(Delivery)

Ordering = Literal["preserve", "as_completed"]
ORDERINGS: tuple[str, ...] = get_args(Ordering)

AS_COMPLETED_REFUSED = (
    "ordering='as_completed' is not available on a pipe: a stage writes its outputs "
    "in input order and commits a partition's offsets in order, which keeps each key's "
    "records in order end to end and lets a halt or a failed commit name exactly what "
    "is done. Writing each compute batch's outputs as it completes would give up both. "
    "For throughput raise max_in_flight (batches a poll keeps in flight) or "
    "batch_size; dispatch.run/stream take ordering='as_completed'.")
"""Why pipes refuse ``as_completed``."""

Cardinality = Literal["one", "many"]
CARDINALITIES: tuple[str, ...] = get_args(Cardinality)

BatchBy = Literal["arrival", "key"]
EXECUTOR_KINDS = ("threads", "inline", "processes")

Predicate = Callable[[Item], bool]
LocalHandler = Callable[[Item, Any], Any]
BatchHandler = Callable[[list[Item], Any], Any]

DEFAULT_OUTPUT = "default"
WILDCARD = "*"

# -- pipe-wide defaults ---------------------------------------------------------------

DEFAULT_PARTITIONS = 4
"""Partitions of every topic a pipe creates (bounds the members a stage group uses)."""

DEFAULT_MAX_LAG = 10_000
"""Records the next stage may lag before a stage pauses its input."""

COMMIT_INTERVAL_MS: dict[str, int] = {"at_least_once": 1000, "exactly_once": 100}
"""Default commit interval per delivery mode.

exactly_once: 100 ms, as Kafka Streams. A stage's outputs become visible downstream
only when its transaction commits, so the interval is added to the end-to-end
latency of every exactly_once stage; a transaction costs a few broker round trips,
so ten per second is cheap. at_least_once: 1 s. Outputs are visible as soon as they
are written, so the interval only bounds what a crash makes the stage read again
(about one interval of input) and how stale the committed offsets that lag is
measured from may be; committing more often buys nothing. (Quix Streams commits
every 5 s, Kafka Streams every 30 s.)"""

DEFAULT_COMMIT_RECORDS = 100_000
"""Records after which a busy stage commits even before its interval is over."""

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_\-]*$")


def check_name(what: str, name: object) -> str:
    """``name`` if it can be part of topic names; else a ConfigError naming ``what``."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise ConfigError(
            f"{what} name {name!r} is invalid: use letters, digits, '_' or '-' "
            "(it becomes part of topic names)"
        )
    return name


def positive_int(what: str, value: object) -> int:
    """``value`` if it is an int >= 1; else a ConfigError naming ``what``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{what} must be an integer >= 1, not {value!r}")
    return value


def _optional_positive(what: str, value: object) -> None:
    if value is not None:
        positive_int(what, value)


def _one_of(what: str, value: object, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ConfigError(f"{what} must be one of {', '.join(map(repr, choices))}, "
                          f"not {value!r}")


@dataclass(frozen=True)
class PipeSettings:
    """Pipe-wide settings (see :class:`~slither_stream.pipe.declaration.Pipe`)."""

    partitions: int = DEFAULT_PARTITIONS
    delivery: Delivery = "at_least_once"
    ordering: Ordering = "preserve"
    max_lag: int = DEFAULT_MAX_LAG
    resume_lag: int | None = None
    """None: half of ``max_lag``."""
    commit_interval_ms: int | None = None
    """None: :data:`COMMIT_INTERVAL_MS` of the delivery mode."""
    commit_records: int = DEFAULT_COMMIT_RECORDS
    standby_replicas: int = 0
    """Other members that keep a copy of each partition's keyed state up to date by
    following its changelog, so a failover restores only a short tail."""

    def __post_init__(self) -> None:
        positive_int("partitions", self.partitions)
        standbys = self.standby_replicas
        if isinstance(standbys, bool) or not isinstance(standbys, int) or standbys < 0:
            raise ConfigError(f"standby_replicas must be an integer >= 0, not {standbys!r}")
        _one_of("delivery", self.delivery, DELIVERIES)
        _one_of("ordering", self.ordering, ORDERINGS)
        if self.ordering == "as_completed":
            raise ConfigError(AS_COMPLETED_REFUSED)
        positive_int("max_lag", self.max_lag)
        low = self.resume_lag
        if low is not None and (isinstance(low, bool) or not isinstance(low, int)
                                or not 0 <= low <= self.max_lag):
            raise ConfigError(f"resume_lag must be an integer in [0, max_lag], not {low!r}")
        interval = self.commit_interval_ms
        if interval is not None and (isinstance(interval, bool) or not isinstance(interval, int)
                                     or interval < 0):
            raise ConfigError(f"commit_interval_ms must be an integer >= 0, not {interval!r}")
        positive_int("commit_records", self.commit_records)

    @property
    def low_mark(self) -> int:
        """The lag at which a paused stage resumes."""
        return self.max_lag // 2 if self.resume_lag is None else self.resume_lag

    @property
    def commit_interval(self) -> float:
        """Seconds between commits of a busy stage in this pipe's delivery mode."""
        chosen = self.commit_interval_ms
        if chosen is None:
            chosen = COMMIT_INTERVAL_MS[self.delivery]
        return chosen / 1000.0


@dataclass(frozen=True)
class RouteSpec:
    """One router rule: the first predicate that returns true names the output."""

    predicate: Predicate
    output: str

    @property
    def predicate_name(self) -> str:
        return callable_name(self.predicate)


@dataclass(frozen=True)
class StateSpec:
    """A keyed state store of a stage, partitioned with the stage's input.

    Each record's handler reads and writes the value of the record's key
    (``ctx.state``). One RocksDB instance per input partition holds it, backed by a
    compacted changelog topic ``<namespace>.<stage>.<name>.changelog`` with the
    input's partition count (partition p holds input partition p's keys). ``serde``
    encodes the values (``"json"``, ``"string"``, ``"raw"``, ``"avro:<schema>"``).
    """

    name: str
    serde: str = "json"

    def __post_init__(self) -> None:
        check_name("state store", self.name)
        if not isinstance(self.serde, str) or not self.serde.strip():
            raise ConfigError(f"state store {self.name!r}: serde must be a spec string "
                              f"such as 'json', not {self.serde!r}")


@dataclass(frozen=True, kw_only=True)
class StageSpec(ABC):
    """What every stage declares: a name and the topic settings it may override."""

    kind: ClassVar[StageKind]
    name: str
    partitions: int | None = None
    """Partitions of the stage's input topic (None: the pipe's)."""
    max_lag: int | None = None
    """Backpressure bound of the stage (None: the pipe's)."""
    batch_size: int = 100
    """Items per batch the stage processes (and records per poll, but for compute)."""

    def __post_init__(self) -> None:
        check_name("stage", self.name)
        _optional_positive(f"stage {self.name!r} partitions", self.partitions)
        _optional_positive(f"stage {self.name!r} max_lag", self.max_lag)
        positive_int(f"stage {self.name!r} batch_size", self.batch_size)

    @property
    def poll_size(self) -> int:
        """Records the stage asks for per poll."""
        return self.batch_size

    @property
    def routes(self) -> tuple[RouteSpec, ...]:
        """The router rules (none for other kinds)."""
        return ()

    def describe(self) -> dict[str, Any]:
        """JSON-friendly summary of the options (callables by qualified name)."""
        shown: dict[str, Any] = {}
        for entry in fields(self):
            if entry.name in ("name", "kind"):
                continue
            value = getattr(self, entry.name)
            if entry.name == "rules":
                shown["routes"] = [{"when": r.predicate_name, "output": r.output}
                                   for r in value]
            elif isinstance(value, str | int | float | bool) or value is None:
                shown[entry.name] = value
            elif isinstance(value, tuple) and all(isinstance(v, str) for v in value):
                shown[entry.name] = list(value)
            elif isinstance(value, tuple) and all(isinstance(v, StateSpec) for v in value):
                shown[entry.name] = [{"name": v.name, "serde": v.serde} for v in value]
            elif callable(value) and hasattr(value, "__qualname__"):
                shown[entry.name] = callable_name(value)
            else:
                shown[entry.name] = repr(value)  # executor or strategy objects
        return shown


@dataclass(frozen=True, kw_only=True)
class LocalSpec(StageSpec):
    """A Python function per item (``handler``), or per batch (``batch_handler``),
    run by the stage's consumer."""

    kind: ClassVar[StageKind] = "local"
    handler: LocalHandler | None = None
    batch_handler: BatchHandler | None = None
    cardinality: Cardinality = "one"
    """``many``: a handler's returned list becomes one item per element."""
    state: tuple[StateSpec, ...] = ()
    """Keyed state stores the handler reads and writes through ``ctx.state``."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.handler is None and self.batch_handler is None:
            raise ConfigError(f"local stage {self.name!r} needs a handler or a batch_handler")
        for label, function in (("handler", self.handler),
                                ("batch_handler", self.batch_handler)):
            if function is not None and not callable(function):
                raise ConfigError(f"local stage {self.name!r}: {label} must be callable")
        if self.cardinality not in CARDINALITIES:
            raise ConfigError(f"local stage {self.name!r}: cardinality must be 'one' or "
                              f"'many', not {self.cardinality!r}")
        if self.state:
            if self.batch_handler is not None:
                raise ConfigError(f"local stage {self.name!r}: keyed state is read and "
                                  "written per record; use a per-item handler, not a "
                                  "batch_handler")
            names = [spec.name for spec in self.state]
            if len(set(names)) != len(names):
                raise ConfigError(f"local stage {self.name!r} declares a state store twice: "
                                  f"{names}")


@dataclass(frozen=True, kw_only=True)
class ComputeSpec(StageSpec):
    """A batch function dispatched to a compute pool (see
    :mod:`slither_stream.pipe.engine.processors.compute`)."""

    kind: ClassVar[StageKind] = "compute"
    function: str | Callable[[list[Any]], list[Any]]
    batch_size: int = 32
    max_in_flight: int = 4
    executor: Any = "threads"
    """``"threads"``, ``"inline"``, ``"processes"`` or an executor instance."""
    strategy: Any = None
    """A dispatch strategy instance (None: fixed batches, or by key with batch_by)."""
    timeout: float | None = None
    """Seconds per batch (None: dispatch's default)."""
    ordering: Ordering = "preserve"
    """Only ``preserve``: see :data:`AS_COMPLETED_REFUSED`."""
    processes: int | None = None
    """Worker processes of the ``processes`` executor (None: one per core)."""
    batch_by: BatchBy = "arrival"
    isolate_failures: bool = True
    """Try the items of a failed batch once more one by one, so only the items that
    fail on their own meet the error policy."""

    def __post_init__(self) -> None:
        super().__post_init__()
        positive_int(f"stage {self.name!r} max_in_flight", self.max_in_flight)
        if isinstance(self.executor, str) and self.executor not in EXECUTOR_KINDS:
            raise ConfigError(f"compute stage {self.name!r}: executor must be one of "
                              f"{', '.join(EXECUTOR_KINDS)} or an executor instance, "
                              f"not {self.executor!r}")
        if self.batch_by not in ("arrival", "key"):
            raise ConfigError(f"compute stage {self.name!r}: batch_by must be 'arrival' or "
                              f"'key', not {self.batch_by!r}")
        _one_of(f"compute stage {self.name!r}: ordering", self.ordering, ORDERINGS)
        if self.ordering == "as_completed":
            raise ConfigError(f"compute stage {self.name!r}: {AS_COMPLETED_REFUSED}")
        _optional_positive(f"stage {self.name!r} processes", self.processes)
        if self.timeout is not None and (isinstance(self.timeout, bool)
                                         or not isinstance(self.timeout, int | float)
                                         or self.timeout <= 0):
            raise ConfigError(f"compute stage {self.name!r}: timeout must be a number of "
                              f"seconds > 0, not {self.timeout!r}")
        if not isinstance(self.isolate_failures, bool):
            raise ConfigError(f"compute stage {self.name!r}: isolate_failures must be True "
                              f"or False, not {self.isolate_failures!r}")

    @property
    def poll_size(self) -> int:
        """``max_in_flight`` batches per poll, so every slot of the pool has work."""
        return self.batch_size * self.max_in_flight


COMPUTE_OPTIONS = frozenset(entry.name for entry in fields(ComputeSpec)) - {"name"}
"""The keyword options a compute stage takes."""


@dataclass(frozen=True, kw_only=True)
class RouterSpec(StageSpec):
    """Routes each item to the output of the first rule whose predicate accepts it."""

    kind: ClassVar[StageKind] = "router"
    rules: tuple[RouteSpec, ...]

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.rules:
            raise ConfigError(f"router stage {self.name!r}: routes must be a non-empty list "
                              "of (predicate, output) pairs")

    @property
    def routes(self) -> tuple[RouteSpec, ...]:
        return self.rules


@dataclass(frozen=True)
class StoreSpec:
    """A store the pipe registers for each run (its views become session views)."""

    name: str
    store: Any
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def store_name(self) -> str:
        return callable_name(self.store) if callable(self.store) else repr(self.store)


def callable_name(value: Any) -> str:
    """``module:qualname`` of a function or class (its repr otherwise)."""
    module = getattr(value, "__module__", None)
    qualname = getattr(value, "__qualname__", None) or getattr(value, "__name__", None)
    if qualname is None:
        return repr(value)
    return f"{module}:{qualname}" if module else str(qualname)
