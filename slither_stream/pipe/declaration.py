"""The :class:`Pipe` builder: a pipe declared in plain Python, checked as it is built.

A topology file builds one ``Pipe`` at import time::

    scoring = Pipe("scoring")
    scoring.store("features", FeatureStore)
    scoring.local("enrich", enrich)
    scoring.compute("score", "topologies.models:predict_batch", batch_size=32)
    scoring.router("route", [(high, "accept"), (low, "review"), (always, "reject")])
    scoring.outputs("accept", "review", "reject")
    scoring.on_error("score", "skip")
    scoring.on_error("*", "halt")

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

An output read by other systems can be written without slither's headers
(``pipe.output("events", headers=False)``): key and value only, as a plain Kafka
producer writes them; the item's id, meta and route are not carried to it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from slither_stream.errors import ConfigError
from slither_stream.pipe.engine.envelope import DEFAULT_SERDE
from slither_stream.pipe.loading import resolve_function
from slither_stream.pipe.specs import (
    CARDINALITIES,
    DEFAULT_OUTPUT,
    DELIVERIES,
    ORDERINGS,
    STAGE_KINDS,
    WILDCARD,
    BatchHandler,
    Delivery,
    ErrorPolicy,
    LocalHandler,
    Ordering,
    PolicyName,
    Predicate,
    RouteSpec,
    StageSpec,
    StoreSpec,
)
from slither_stream.serde.lookup import default_registry, serde_for
from slither_stream.serde.schemas import SchemaRegistry

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_\-]*$")

_LOCAL_OPTIONS = {"handler", "batch_handler", "cardinality", "batch_size", "partitions",
                  "max_lag"}
_ROUTER_OPTIONS = {"routes", "batch_size", "partitions", "max_lag"}


def _check_name(what: str, name: object) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise ConfigError(
            f"{what} name {name!r} is invalid: use letters, digits, '_' or '-' "
            "(it becomes part of topic names)"
        )
    return name


def _positive_int(what: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{what} must be an integer >= 1, not {value!r}")
    return value


class Pipe:
    """A named, ordered chain of stages with outputs, stores and error policies.

    Pipe-wide settings (each may be overridden per stage where it makes sense):

    * ``partitions`` — partitions of every topic the pipe creates (parallelism per
      stage is bounded by it).
    * ``delivery`` — ``at_least_once`` (default) or ``exactly_once``.
    * ``ordering`` — ``preserve`` keeps per-key order end to end: records of a
      partition are processed in offset order, every stage writes its outputs in
      input order, keyed by the item key, so one key stays in one partition.
      ``as_completed`` is accepted for dispatch parity; topic stages still write in
      input order (one valid completion order), so it changes nothing on the log.
    * ``max_lag`` / ``resume_lag`` — a stage pauses its input while the stage after it
      lags by more than ``max_lag`` records and resumes once that lag is at most
      ``resume_lag`` (default: half of ``max_lag``).
    """

    def __init__(
        self,
        name: str,
        *,
        partitions: int = 4,
        delivery: Delivery = "at_least_once",
        ordering: Ordering = "preserve",
        max_lag: int = 10_000,
        resume_lag: int | None = None,
        input_serde: str = DEFAULT_SERDE,
        schemas: SchemaRegistry | str | os.PathLike[str] | None = None,
    ) -> None:
        self.name = _check_name("pipe", name)
        self.partitions = _positive_int("partitions", partitions)
        if delivery not in DELIVERIES:
            raise ConfigError(
                f"delivery must be one of {', '.join(DELIVERIES)}, not {delivery!r}"
            )
        if ordering not in ORDERINGS:
            raise ConfigError(
                f"ordering must be one of {', '.join(ORDERINGS)}, not {ordering!r}"
            )
        self.delivery: Delivery = delivery
        self.ordering: Ordering = ordering
        self.max_lag = _positive_int("max_lag", max_lag)
        low = max_lag // 2 if resume_lag is None else resume_lag
        if isinstance(low, bool) or not isinstance(low, int) or not 0 <= low <= max_lag:
            raise ConfigError(f"resume_lag must be an integer in [0, max_lag], not {low!r}")
        self.resume_lag = low
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
        self.input_serde = self._check_serde(f"pipe {self.name!r} input topic", input_serde)

    # -- stores and outputs ---------------------------------------------------------

    def store(self, name: str, store: Any, **options: Any) -> Pipe:
        """Register ``store`` (a Store class or instance) under ``name`` for each run."""
        _check_name("store", name)
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
        _check_name("output", name)
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
        cardinality: str = "one",
        batch_size: int = 100,
        **options: Any,
    ) -> Pipe:
        """A per-item Python function ``handler(item, context)`` run by the stage.

        Its return value is interpreted by :mod:`slither_stream.pipe.results`: a bare
        value is the new payload; ``("ok", v)``, ``("skip", reason)``,
        ``("error", reason)`` and ``("route", output, v)`` are tagged results. With
        ``cardinality="many"`` a returned list becomes one item per element. A
        ``batch_handler(items, context)`` replaces per-item calls.
        """
        self._check_new_stage(name)
        if handler is None and batch_handler is None:
            raise ConfigError(f"local stage {name!r} needs a handler or a batch_handler")
        for label, function in (("handler", handler), ("batch_handler", batch_handler)):
            if function is not None and not callable(function):
                raise ConfigError(f"local stage {name!r}: {label} must be callable")
        if cardinality not in CARDINALITIES:
            raise ConfigError(
                f"local stage {name!r}: cardinality must be 'one' or 'many', not {cardinality!r}"
            )
        unknown = set(options) - _LOCAL_OPTIONS
        if unknown:
            raise ConfigError(
                f"local stage {name!r}: unknown option(s) {', '.join(sorted(unknown))}"
            )
        settings: dict[str, Any] = {
            "handler": handler,
            "batch_handler": batch_handler,
            "cardinality": cardinality,
            "batch_size": _positive_int(f"stage {name!r} batch_size", batch_size),
        }
        settings.update(self._topic_options(name, options))
        self._stages.append(StageSpec(name, "local", settings))
        return self

    def compute(
        self,
        name: str,
        function: str | Callable[[list[Any]], list[Any]],
        *,
        batch_size: int = 32,
        max_in_flight: int = 4,
        **dispatch_options: Any,
    ) -> Pipe:
        """A batch function dispatched to a compute pool.

        ``function`` is ``"module:function"`` (preferred: worker processes import it)
        or a callable; it takes a list of payloads and returns a list of results of
        the same length and order, each becoming its item's new payload. Other
        keyword options (executor, strategy, timeout, ...) pass through to dispatch.
        """
        self._check_new_stage(name)
        from slither_stream.pipe.engine.processors.compute import check_compute_options

        resolve_function(function, what=f"compute function of stage {name!r}")
        check_compute_options(name, dispatch_options)
        options = dict(dispatch_options)
        topic_options = self._topic_options(
            name, {k: options.pop(k) for k in ("partitions", "max_lag") if k in options}
        )
        settings: dict[str, Any] = {
            "function": function,
            "batch_size": _positive_int(f"stage {name!r} batch_size", batch_size),
            "max_in_flight": _positive_int(f"stage {name!r} max_in_flight", max_in_flight),
            **options,
            **topic_options,
        }
        self._stages.append(StageSpec(name, "compute", settings))
        return self

    def router(
        self,
        name: str,
        routes: Sequence[tuple[Predicate, str] | RouteSpec],
        **options: Any,
    ) -> Pipe:
        """Route each item to the output of the first predicate that accepts it.

        Items no predicate accepts go to the ``default`` output. A router is the last
        stage of a pipe.
        """
        self._check_new_stage(name)
        unknown = set(options) - _ROUTER_OPTIONS
        if unknown:
            raise ConfigError(
                f"router stage {name!r}: unknown option(s) {', '.join(sorted(unknown))}"
            )
        specs: list[RouteSpec] = []
        if isinstance(routes, (str, bytes)) or not isinstance(routes, Sequence) or not routes:
            raise ConfigError(
                f"router stage {name!r}: routes must be a non-empty list of "
                "(predicate, output) pairs"
            )
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
            _check_name("output", output)
            specs.append(RouteSpec(predicate, output))
        batch_size = _positive_int(f"stage {name!r} batch_size", options.get("batch_size", 100))
        settings: dict[str, Any] = {"routes": tuple(specs), "batch_size": batch_size}
        settings.update(self._topic_options(
            name, {k: v for k, v in options.items() if k != "batch_size"}))
        self._stages.append(StageSpec(name, "router", settings))
        return self

    # -- errors -------------------------------------------------------------------

    def on_error(
        self,
        stage: str,
        policy: PolicyName | ErrorPolicy,
        *,
        max_attempts: int = 3,
        then: PolicyName = "route",
    ) -> Pipe:
        """Set the error policy of ``stage`` (or ``"*"``: every stage without its own).

        ``policy`` is ``halt``, ``skip``, ``retry`` (``max_attempts`` in total, then
        ``then``) or ``route`` (to ``<pipe>.<stage>.dlq``). Unset stages halt.
        """
        if stage != WILDCARD and not any(s.name == stage for s in self._stages):
            declared = ", ".join(s.name for s in self._stages) or "none yet"
            raise ConfigError(
                f"on_error names unknown stage {stage!r} in pipe {self.name!r} "
                f"(declared stages: {declared}; declare the stage before its policy, "
                "or use '*')"
            )
        chosen = policy if isinstance(policy, ErrorPolicy) else ErrorPolicy(
            policy, max_attempts=max_attempts, then=then)
        self._policies[stage] = chosen
        return self

    # -- compiled form --------------------------------------------------------------

    def compile(self) -> Any:
        """Check the whole pipe and return its :class:`PipeDefinition`."""
        from slither_stream.pipe.definition import PipeDefinition

        return PipeDefinition.from_pipe(self)

    def describe(self) -> dict[str, Any]:
        """The graph: stages, kinds, topics, consumer groups, outputs and stores."""
        return dict(self.compile().describe())

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

    def _check_new_stage(self, name: str) -> None:
        _check_name("stage", name)
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

    def _topic_options(self, stage: str, options: dict[str, Any]) -> dict[str, Any]:
        unknown = set(options) - {"partitions", "max_lag"}
        if unknown:
            raise ConfigError(
                f"stage {stage!r}: unknown option(s) {', '.join(sorted(unknown))}"
            )
        return {key: _positive_int(f"stage {stage!r} {key}", value)
                for key, value in options.items()}
