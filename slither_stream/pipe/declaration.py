"""The :class:`Pipe` builder: a pipe declared in plain Python, checked as it is built.

A topology file builds one ``Pipe`` at import time::

    scoring = Pipe("scoring")
    scoring.store("features", FeatureStore)
    scoring.local("enrich", enrich)
    scoring.compute("score", "topologies.models:predict_batch", batch_size=32)
    scoring.router("route", [(high, "accept"), (low, "review"), (always, "reject")])
    scoring.outputs("accept", "review", "reject")
    scoring.on_error("score", "skip")
    scoring.on_error("*", "dead_letter")

Mistakes that can be seen without running anything raise :class:`ConfigError` as
soon as they are made (duplicate stage, unknown stage in ``on_error``, a compute
function that cannot be imported, a bad option); a route to an undeclared output is
reported by :meth:`Pipe.compile` (outputs are usually declared after the router).

Serdes: the pipe's input topic and each output can carry values in a declared serde
instead of JSON, named by a spec string (``"json"``, ``"string"``, ``"raw"``,
``"avro:<schema full name>"``)::

    scoring = Pipe("scoring", input_serde="avro:slither.examples.Transaction")
    scoring.outputs("accept", "review", serde="avro:slither.examples.ScoredTransaction")

Avro schema names resolve through ``schemas`` (a :class:`SchemaRegistry` or a
directory of ``.avsc`` files), else ``$SLITHER_SCHEMAS``, else ``./schemas``; an
unknown schema is a ConfigError at declaration naming the topic and the schema.
Topics between stages always carry the pipe's JSON envelope.

With a schema registry (``Pipe(..., schema_registry="https://registry:8081")``, or
``$SLITHER_SCHEMA_REGISTRY`` for every pipe) the same specs carry registry-assigned
schema ids in the Confluent wire format, so other services read and write the topics;
the schemas above stay the pipe's reader schemas. See
:mod:`slither_stream.serde.registry`.

An output read by other systems can be written without slither's headers
(``pipe.output("events", headers=False)``): key and value only, as a plain Kafka
producer writes them; the item's id, meta and route are not carried to it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from slither_stream.errors import ConfigError
from slither_stream.item import Item
from slither_stream.pipe.definition import PipeDefinition
from slither_stream.pipe.engine.envelope import DEFAULT_SERDE
from slither_stream.pipe.loading import resolve_function
from slither_stream.pipe.specs import (
    COMPUTE_OPTIONS,
    DEFAULT_COMMIT_RECORDS,
    DEFAULT_MAX_LAG,
    DEFAULT_OUTPUT,
    DEFAULT_PARTITIONS,
    STAGE_KINDS,
    WILDCARD,
    BatchHandler,
    Cardinality,
    ComputeSpec,
    Delivery,
    LocalHandler,
    LocalSpec,
    Ordering,
    PipeSettings,
    Predicate,
    RouterSpec,
    RouteSpec,
    StageSpec,
    StateSpec,
    StoreSpec,
    check_name,
)
from slither_stream.policies import ErrorPolicy, PolicyName, Retry, parse_policy
from slither_stream.serde.lookup import default_registry, serde_for
from slither_stream.serde.registry.config import RegistryConfig, resolve_config
from slither_stream.serde.schemas import SchemaRegistry


class Pipe:
    """A named, ordered chain of stages with outputs, stores and error policies.

    Pipe-wide settings (defaults in :mod:`slither_stream.pipe.specs`):

    * ``partitions`` — partitions of every topic the pipe creates (parallelism per
      stage is bounded by it).
    * ``delivery`` — ``at_least_once`` (default) or ``exactly_once``.
    * ``ordering`` — ``preserve`` keeps per-key order end to end: records of a
      partition are processed in offset order and every stage writes its outputs in
      input order, keyed by the item key, so one key stays in one partition.
      ``as_completed`` is refused with the reason
      (:data:`~slither_stream.pipe.specs.AS_COMPLETED_REFUSED`).
    * ``max_lag`` / ``resume_lag`` — a stage pauses its input while the stage after it
      lags by more than ``max_lag`` records and resumes once that lag is at most
      ``resume_lag`` (default: half of ``max_lag``).
    * ``commit_interval_ms`` / ``commit_records`` — a busy stage commits every
      interval (default 100 ms under exactly_once, 1 s under at_least_once) or after
      that many records, whichever comes first; also when it runs out of input,
      before partitions are revoked and when it stops.
    * ``standby_replicas`` — for stages with keyed state: how many other members
      keep each partition's state up to date by following its changelog (0, the
      default: none), so the member that takes a partition over restores a short tail.
    * ``schema_registry`` — a registry URL or
      :class:`~slither_stream.serde.registry.RegistryConfig`: ``avro:`` and
      ``json-schema:`` topics use registry ids (default: ``$SLITHER_SCHEMA_REGISTRY``,
      else the local schema directory's ids).
    """

    def __init__(
        self,
        name: str,
        *,
        partitions: int = DEFAULT_PARTITIONS,
        delivery: Delivery = "at_least_once",
        ordering: Ordering = "preserve",
        max_lag: int = DEFAULT_MAX_LAG,
        resume_lag: int | None = None,
        commit_interval_ms: int | None = None,
        commit_records: int = DEFAULT_COMMIT_RECORDS,
        standby_replicas: int = 0,
        input_serde: str = DEFAULT_SERDE,
        schemas: SchemaRegistry | str | os.PathLike[str] | None = None,
        schema_registry: RegistryConfig | str | None = None,
    ) -> None:
        self.name = check_name("pipe", name)
        self.settings = PipeSettings(
            partitions=partitions, delivery=delivery, ordering=ordering, max_lag=max_lag,
            resume_lag=resume_lag, commit_interval_ms=commit_interval_ms,
            commit_records=commit_records, standby_replicas=standby_replicas)
        self._stages: list[StageSpec] = []
        self._stores: list[StoreSpec] = []
        self._outputs: list[str] = []
        self._policies: dict[str, ErrorPolicy] = {}
        self._output_serdes: dict[str, str] = {}
        self._plain_outputs: set[str] = set()
        self._schemas: SchemaRegistry | None = None
        if isinstance(schemas, SchemaRegistry):
            self._schemas = schemas
        elif schemas is not None:
            try:
                self._schemas = SchemaRegistry.load(Path(schemas))
            except ConfigError as error:
                raise ConfigError(f"pipe {self.name!r}: schemas: {error}") from error
        try:
            self.schema_registry: RegistryConfig | None = resolve_config(schema_registry)
        except ConfigError as error:
            raise ConfigError(f"pipe {self.name!r}: {error}") from error
        self.input_serde = self._check_serde(f"pipe {self.name!r} input topic", input_serde)

    @property
    def partitions(self) -> int:
        return self.settings.partitions

    @property
    def delivery(self) -> Delivery:
        return self.settings.delivery

    @property
    def ordering(self) -> Ordering:
        return self.settings.ordering

    @property
    def max_lag(self) -> int:
        return self.settings.max_lag

    @property
    def resume_lag(self) -> int:
        return self.settings.low_mark

    # -- stores and outputs ---------------------------------------------------------

    def store(self, name: str, store: Any, **options: Any) -> Pipe:
        """Register ``store`` (a Store class or instance) under ``name`` for each run."""
        check_name("store", name)
        if any(existing.name == name for existing in self._stores):
            raise ConfigError(f"pipe {self.name!r} already declares a store named {name!r}")
        if store is None:
            raise ConfigError(f"store {name!r}: a Store class or instance is required")
        self._stores.append(StoreSpec(name, store, dict(options)))
        return self

    def output(self, name: str, *, serde: str = DEFAULT_SERDE, headers: bool = True) -> Pipe:
        """Declare a named output; its items land on ``<pipe>.out.<name>``, their
        payloads encoded with ``serde`` (a spec string, see the module docstring).
        ``headers=False`` writes key and value only (no ``slither.*`` headers: the
        item's id, meta and route stay behind, a ``str`` key is written as UTF-8),
        for outputs other systems read; it is also the cheaper write. Declaring
        ``"default"`` sets how the last stage's items are written."""
        check_name("output", name)
        if name in self._outputs:
            raise ConfigError(f"pipe {self.name!r} already declares output {name!r}")
        if not isinstance(headers, bool):
            raise ConfigError(f"output {name!r}: headers must be True or False, "
                              f"got {headers!r}")
        spec = self._check_serde(f"output topic {self.name}.out.{name}", serde)
        self._outputs.append(name)
        if spec != DEFAULT_SERDE:
            self._output_serdes[name] = spec
        if not headers:
            self._plain_outputs.add(name)
        return self

    def outputs(self, *names: str, serde: str = DEFAULT_SERDE, headers: bool = True) -> Pipe:
        """Declare several outputs at once, all with ``serde`` and ``headers``."""
        for name in names:
            self.output(name, serde=serde, headers=headers)
        return self

    # -- stages -------------------------------------------------------------------

    def stage(self, name: str, kind: str, **options: Any) -> Pipe:
        """Add a stage of ``kind`` (``local``, ``compute`` or ``router``).

        The generic form of :meth:`local`, :meth:`compute` and :meth:`router`.
        """
        if kind == "local":
            return self.local(name, **options)
        if kind == "compute":
            if "function" not in options:
                raise ConfigError(f"compute stage {name!r} needs function='module:function'")
            function = options.pop("function")
            return self.compute(name, function, **options)
        if kind == "router":
            if "routes" not in options:
                raise ConfigError(f"router stage {name!r} needs routes=[(predicate, output)]")
            routes = options.pop("routes")
            return self.router(name, routes, **options)
        raise ConfigError(
            f"stage {name!r}: unknown kind {kind!r}; expected one of {', '.join(STAGE_KINDS)}"
        )

    def local(
        self,
        name: str,
        handler: LocalHandler | None = None,
        *,
        batch_handler: BatchHandler | None = None,
        cardinality: Cardinality = "one",
        batch_size: int = 100,
        partitions: int | None = None,
        max_lag: int | None = None,
        state: Sequence[str | StateSpec] = (),
    ) -> Pipe:
        """A per-item Python function ``handler(item, context)`` run by the stage.

        It returns the item's new payload, or one of the typed results of
        :mod:`slither_stream.pipe.results` (``Emit``, ``Skip``), or raises (the error
        policy decides). With ``cardinality="many"`` a returned list becomes one item
        per element. A ``batch_handler(items, context)`` replaces per-item calls.

        ``state`` names keyed state stores (or gives :class:`StateSpec` values): the
        handler reads and writes the current record's key's value through
        ``context.state`` (``get(default)``, ``set(value)``, ``delete()``), partitioned
        with the stage's input and owned by whichever member owns the partition.
        """
        self._check_new_stage(name)
        if isinstance(state, str | bytes) or not isinstance(state, Sequence):
            raise ConfigError(f"local stage {name!r}: state must be a list of store names, "
                              f"not {state!r}")
        stores = tuple(entry if isinstance(entry, StateSpec) else StateSpec(entry)
                       for entry in state)
        self._add(LocalSpec(name=name, handler=handler, batch_handler=batch_handler,
                            cardinality=cardinality, batch_size=batch_size,
                            partitions=partitions, max_lag=max_lag, state=stores))
        return self

    def rekey(
        self,
        name: str,
        key: Callable[[Item], str | bytes | None],
        *,
        batch_size: int = 100,
        partitions: int | None = None,
        max_lag: int | None = None,
    ) -> Pipe:
        """Re-key the items for the next stage: ``key(item)`` becomes each item's key.

        Records move to the partition of their new key on the way to the next stage
        (whose input topic works as the repartition topic, with its partition count),
        so a stage keeping state by another key than the input's, say per user
        instead of per transaction, gets all of one key's records.
        """
        if not callable(key):
            raise ConfigError(f"rekey stage {name!r}: key must be a function item -> key")
        return self.local(name, _Rekey(key), batch_size=batch_size, partitions=partitions,
                          max_lag=max_lag)

    def compute(
        self,
        name: str,
        function: str | Callable[[list[Any]], list[Any]],
        **options: Any,
    ) -> Pipe:
        """A batch function dispatched to a compute pool.

        ``function`` is ``"module:function"`` (preferred: worker processes import it)
        or a callable; it takes a list of payloads and returns a list of results of
        the same length and order, each becoming its item's new payload. Options are
        the fields of :class:`~slither_stream.pipe.specs.ComputeSpec` (batch_size,
        max_in_flight, executor, strategy, timeout, ordering, processes, batch_by,
        isolate_failures, partitions, max_lag).
        """
        self._check_new_stage(name)
        if "on_error" in options:
            raise ConfigError(f"compute stage {name!r}: set its error policy with "
                              f"pipe.on_error({name!r}, ...), not a dispatch on_error option")
        unknown = set(options) - COMPUTE_OPTIONS
        if unknown:
            raise ConfigError(f"compute stage {name!r}: unknown option(s) "
                              f"{', '.join(sorted(unknown))}; known: "
                              f"{', '.join(sorted(COMPUTE_OPTIONS - {'function'}))}")
        resolve_function(function, what=f"compute function of stage {name!r}")
        self._add(ComputeSpec(name=name, function=function, **options))
        return self

    def router(
        self,
        name: str,
        routes: Sequence[tuple[Predicate, str] | RouteSpec],
        *,
        batch_size: int = 100,
        partitions: int | None = None,
        max_lag: int | None = None,
    ) -> Pipe:
        """Route each item to the output of the first predicate that accepts it.

        Items no predicate accepts go to the ``default`` output. A router is the last
        stage of a pipe.
        """
        self._check_new_stage(name)
        if isinstance(routes, str | bytes) or not isinstance(routes, Sequence) or not routes:
            raise ConfigError(
                f"router stage {name!r}: routes must be a non-empty list of "
                "(predicate, output) pairs"
            )
        specs: list[RouteSpec] = []
        for position, rule in enumerate(routes):
            if isinstance(rule, RouteSpec):
                specs.append(rule)
                continue
            if not isinstance(rule, tuple) or len(rule) != 2:
                raise ConfigError(
                    f"router stage {name!r}: route #{position} must be a (predicate, output) "
                    f"pair, not {rule!r}"
                )
            predicate, output = rule
            if not callable(predicate):
                raise ConfigError(
                    f"router stage {name!r}: route #{position} predicate is not callable"
                )
            check_name("output", output)
            specs.append(RouteSpec(predicate, output))
        self._add(RouterSpec(name=name, rules=tuple(specs), batch_size=batch_size,
                             partitions=partitions, max_lag=max_lag))
        return self

    # -- errors -------------------------------------------------------------------

    def on_error(
        self,
        stage: str,
        policy: PolicyName | ErrorPolicy | str,
        *,
        max_attempts: int | None = None,
        then: PolicyName | ErrorPolicy | str | None = None,
    ) -> Pipe:
        """Set the error policy of ``stage`` (or ``"*"``: every stage without its own).

        ``policy`` is one of :mod:`slither_stream.policies`: ``"halt"`` (the default
        for stages without one), ``"skip"``, ``"dead_letter"`` (the record goes to
        ``<pipe>.<stage>.dlq``) or ``retry(max_attempts, backoff, then=...)``; the
        string ``"retry"`` with ``max_attempts`` and ``then`` is the same.
        """
        if stage != WILDCARD and not any(s.name == stage for s in self._stages):
            declared = ", ".join(s.name for s in self._stages) or "none yet"
            raise ConfigError(
                f"on_error names unknown stage {stage!r} in pipe {self.name!r} "
                f"(declared stages: {declared}; declare the stage before its policy, "
                "or use '*')"
            )
        option = f"on_error({stage!r})"
        chosen = parse_policy(policy, option=option, where="stage")
        if max_attempts is not None or then is not None:
            if not isinstance(chosen, Retry):
                raise ConfigError(f"{option}: max_attempts and then go with 'retry', "
                                  f"not {policy!r}")
            final = chosen.then if then is None else parse_policy(
                then, option=f"{option} then", where="stage")
            if isinstance(final, Retry):
                raise ConfigError(f"{option}: then cannot be another retry")
            chosen = Retry(chosen.max_attempts if max_attempts is None else max_attempts,
                           chosen.backoff, chosen.max_backoff, final.final)
        self._policies[stage] = chosen
        return self

    # -- compiled form --------------------------------------------------------------

    def compile(self) -> PipeDefinition:
        """Check the whole pipe and return its :class:`PipeDefinition`."""
        return PipeDefinition.from_pipe(self)

    def describe(self) -> dict[str, Any]:
        """The graph: stages, kinds, topics, consumer groups, outputs and stores."""
        return self.compile().describe()

    @property
    def stages(self) -> tuple[StageSpec, ...]:
        return tuple(self._stages)

    @property
    def stores(self) -> tuple[StoreSpec, ...]:
        return tuple(self._stores)

    @property
    def declared_outputs(self) -> tuple[str, ...]:
        return tuple(self._outputs)

    @property
    def policies(self) -> dict[str, ErrorPolicy]:
        return dict(self._policies)

    @property
    def output_serdes(self) -> dict[str, str]:
        """Serde spec per output declared with one other than JSON."""
        return dict(self._output_serdes)

    @property
    def plain_outputs(self) -> frozenset[str]:
        """Outputs declared with ``headers=False``."""
        return frozenset(self._plain_outputs)

    @property
    def schemas(self) -> SchemaRegistry | None:
        """The registry ``avro:`` specs resolved against (loaded on first use)."""
        return self._schemas

    def __repr__(self) -> str:
        chain = " -> ".join(f"{s.name}:{s.kind}" for s in self._stages) or "(no stages)"
        return f"Pipe({self.name!r}: {chain}; outputs={list(self._outputs) or [DEFAULT_OUTPUT]})"

    # -- helpers ------------------------------------------------------------------

    def _add(self, spec: StageSpec) -> None:
        self._stages.append(spec)

    def _check_new_stage(self, name: str) -> None:
        check_name("stage", name)
        if any(existing.name == name for existing in self._stages):
            raise ConfigError(f"pipe {self.name!r} already has a stage named {name!r}")
        if self._stages and self._stages[-1].kind == "router":
            raise ConfigError(
                f"stage {name!r} follows router {self._stages[-1].name!r}: a router "
                "must be the last stage (it publishes to the outputs)"
            )

    def _check_serde(self, topic: str, spec: object) -> str:
        """``spec`` normalised, once it is known to build a serde (Avro schema found)."""
        if not isinstance(spec, str) or not spec.strip():
            raise ConfigError(f"{topic}: serde must be a spec string such as 'json' or "
                              f"'avro:<schema full name>', not {spec!r}")
        text = spec.strip()
        if text.lower() == DEFAULT_SERDE:
            return DEFAULT_SERDE
        needs_schemas = text.partition(":")[1] != ""
        try:
            if needs_schemas and self._schemas is None:
                self._schemas = default_registry()
            serde_for(text, registry=self._schemas)
        except ConfigError as error:
            raise ConfigError(f"{topic}: serde {text!r}: {error}") from error
        return text


class _Rekey:
    """The handler of a :meth:`Pipe.rekey` stage."""

    def __init__(self, key: Callable[[Item], str | bytes | None]) -> None:
        self.key = key
        self.__qualname__ = f"rekey({getattr(key, '__qualname__', repr(key))})"
        self.__module__ = getattr(key, "__module__", __name__)

    def __call__(self, item: Item, _context: object) -> Item:
        return Item(item.id, item.payload, self.key(item), item.meta, item.route)
