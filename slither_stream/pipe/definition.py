"""The compiled, inspectable form of a pipe: stages wired to topics and groups.

Topic and group names (``ns`` is the namespace, the pipe name by default):

* input of stage ``s``: ``<ns>.<s>.in`` (the first stage's input is the pipe input)
* output ``o``: ``<ns>.out.<o>``; items leaving a pipe without a router go to
  ``<ns>.out.default``
* dead letters of stage ``s``: ``<ns>.<s>.dlq``
* consumer group of stage ``s``: ``<ns>.<s>``
* changelog of keyed state store ``k`` of stage ``s``: ``<ns>.<s>.<k>.changelog``
  (compacted, created by the stage with its input's partition count)

A namespace other than the pipe name lets separate runs share one log without
seeing each other's records (``Runner.run`` on a shared log uses one per session).

Serdes: the pipe input and each output carry values in their declared serde
(``input_serde``, ``output_serdes``; JSON by default); topics between stages always
carry the pipe's JSON envelope, and a dead-letter topic holds the original records
of its stage's input, so it has that input's serde. :meth:`PipeDefinition.serde_spec`
answers per topic; :meth:`PipeDefinition.envelope` builds the envelope for one. With a
``schema_registry`` the ``avro:`` and ``json-schema:`` topics get the registry-backed
serdes: building such an envelope checks that the registry answers, and for an
output looks up its schema's id, so a pipe whose schema is missing or incompatible
fails at start, naming the subject.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from slither_stream.errors import ConfigError
from slither_stream.pipe.engine.envelope import (
    DEFAULT_SERDE,
    Envelope,
    PlainEnvelope,
    envelope_for,
)
from slither_stream.pipe.specs import (
    DEFAULT_COMMIT_RECORDS,
    DEFAULT_OUTPUT,
    WILDCARD,
    Delivery,
    LocalSpec,
    Ordering,
    StageKind,
    StageSpec,
    StoreSpec,
)
from slither_stream.policies import ErrorPolicy, Halt
from slither_stream.serde.lookup import serde_for, uses_registry
from slither_stream.serde.registry.client import RegistryClient
from slither_stream.serde.registry.config import RegistryConfig
from slither_stream.serde.schemas import SchemaRegistry

if TYPE_CHECKING:
    from slither_stream.pipe.declaration import Pipe


@dataclass(frozen=True)
class StagePlan:
    """One stage placed on the log: where it reads, writes, and who it waits for."""

    spec: StageSpec
    index: int
    input_topic: str
    next_topic: str | None
    """Topic for items passing on (None for a router: it writes outputs only)."""
    group: str
    dlq_topic: str
    policy: ErrorPolicy
    partitions: int
    max_lag: int
    downstream_group: str | None = None
    downstream_topic: str | None = None
    changelogs: tuple[tuple[str, str], ...] = ()
    """``(state store, changelog topic)`` of each keyed state store of the stage."""

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def kind(self) -> StageKind:
        return self.spec.kind


@dataclass(frozen=True)
class PipeDefinition:
    """Everything needed to run a pipe, with no runtime state."""

    name: str
    namespace: str
    stages: tuple[StagePlan, ...]
    outputs: tuple[str, ...]
    stores: tuple[StoreSpec, ...]
    delivery: Delivery
    ordering: Ordering
    partitions: int
    max_lag: int
    resume_lag: int
    policies: dict[str, ErrorPolicy] = field(default_factory=dict)
    input_serde: str = DEFAULT_SERDE
    """Serde spec of the pipe's input topic (``json``, ``avro:<schema>``, ...)."""
    output_serdes: dict[str, str] = field(default_factory=dict)
    """Serde spec per output name; outputs not listed carry JSON."""
    plain_outputs: frozenset[str] = frozenset()
    """Outputs written without slither's headers (key and value only)."""
    commit_interval: float = 1.0
    """Seconds between two commits of a busy stage."""
    commit_records: int = DEFAULT_COMMIT_RECORDS
    """Records after which a busy stage commits before its interval is over."""
    standby_replicas: int = 0
    """Members besides a partition's owner that follow its keyed state."""
    schemas: SchemaRegistry | None = field(default=None, compare=False, repr=False)
    """Registry resolving ``avro:`` specs (None: ``$SLITHER_SCHEMAS`` or ./schemas)."""
    schema_registry: RegistryConfig | None = field(default=None, compare=False, repr=False)
    """The schema registry of ``avro:``/``json-schema:`` topics (None: local ids)."""

    @classmethod
    def from_pipe(cls, pipe: Pipe, namespace: str | None = None) -> PipeDefinition:
        """Validate ``pipe`` as a whole and wire it to topics."""
        stages = pipe.stages
        if not stages:
            raise ConfigError(f"pipe {pipe.name!r} has no stages")
        declared = pipe.declared_outputs
        outputs = tuple(dict.fromkeys((*declared, DEFAULT_OUTPUT)))
        for spec in stages:
            for route in spec.routes:
                if route.output not in outputs:
                    raise ConfigError(
                        f"stage {spec.name!r} routes to undeclared output {route.output!r} "
                        f"(declared outputs: {', '.join(declared) or 'none'}; "
                        f"add pipe.output({route.output!r}))"
                    )
        policies = pipe.policies
        default_policy = policies.get(WILDCARD, Halt())
        ns = namespace or pipe.name
        plans: list[StagePlan] = []
        for index, spec in enumerate(stages):
            last = index == len(stages) - 1
            if spec.kind == "router":
                following = None
            elif last:
                following = output_topic(ns, DEFAULT_OUTPUT)
            else:
                following = stage_input_topic(ns, stages[index + 1].name)
            plans.append(StagePlan(
                spec=spec,
                index=index,
                input_topic=stage_input_topic(ns, spec.name),
                next_topic=following,
                group=f"{ns}.{spec.name}",
                dlq_topic=f"{ns}.{spec.name}.dlq",
                policy=policies.get(spec.name, default_policy),
                partitions=pipe.partitions if spec.partitions is None else spec.partitions,
                max_lag=pipe.max_lag if spec.max_lag is None else spec.max_lag,
                downstream_group=None if last else f"{ns}.{stages[index + 1].name}",
                downstream_topic=None if last else stage_input_topic(ns, stages[index + 1].name),
                changelogs=_changelogs(ns, spec),
            ))
        return cls(
            name=pipe.name,
            namespace=ns,
            stages=tuple(plans),
            outputs=outputs,
            stores=pipe.stores,
            delivery=pipe.delivery,
            ordering=pipe.ordering,
            partitions=pipe.partitions,
            max_lag=pipe.max_lag,
            resume_lag=pipe.resume_lag,
            policies=policies,
            input_serde=pipe.input_serde,
            output_serdes=pipe.output_serdes,
            plain_outputs=pipe.plain_outputs,
            commit_interval=pipe.settings.commit_interval,
            commit_records=pipe.settings.commit_records,
            standby_replicas=pipe.settings.standby_replicas,
            schemas=pipe.schemas,
            schema_registry=pipe.schema_registry,
        )

    # -- lookups ------------------------------------------------------------------

    @property
    def input_topic(self) -> str:
        """Where input records for the pipe are produced."""
        return self.stages[0].input_topic

    def output_topic(self, output: str) -> str:
        if output not in self.outputs:
            raise ConfigError(
                f"pipe {self.name!r} has no output {output!r}; outputs: {', '.join(self.outputs)}"
            )
        return output_topic(self.namespace, output)

    @property
    def output_topics(self) -> dict[str, str]:
        return {name: output_topic(self.namespace, name) for name in self.outputs}

    def serde_spec(self, topic: str) -> str:
        """The serde spec of ``topic``: the input's, an output's, a dead-letter topic's
        (its stage's input serde) or the JSON envelope between stages."""
        for plan in self.stages:
            if topic in (plan.input_topic, plan.dlq_topic):
                return self.input_serde if plan.index == 0 else DEFAULT_SERDE
        name = self._output_of(topic)
        return DEFAULT_SERDE if name is None else self.output_serdes.get(name, DEFAULT_SERDE)

    def _output_of(self, topic: str) -> str | None:
        """The name of the output whose topic is ``topic``; None for any other topic."""
        for name in self.outputs:
            if topic == output_topic(self.namespace, name):
                return name
        return None

    def topic_serdes(self) -> dict[str, str]:
        """Serde spec of every topic the pipe uses, by topic name."""
        return {topic: self.serde_spec(topic) for topic, _ in self.topics()}

    def writes_headers(self, topic: str) -> bool:
        """Whether records written to ``topic`` carry slither's headers (all but the
        outputs declared with ``headers=False``)."""
        return self._output_of(topic) not in self.plain_outputs

    def envelope(self, topic: str) -> Envelope:
        """The envelope for records of ``topic`` (build once per topic, not per record).

        With a schema registry, raises RegistryUnavailableError when it does not
        answer within ``connect_timeout``, and for an output whose schema is not a
        version of its subject SchemaNotRegisteredError or IncompatibleSchemaError.
        """
        spec = self.serde_spec(topic)
        headers = self.writes_headers(topic)
        if self.schema_registry is None or not uses_registry(spec):
            return envelope_for(spec, self.schemas, headers=headers)
        client = RegistryClient.shared(self.schema_registry)
        serde = serde_for(spec, registry=self.schemas, schema_registry=client, topic=topic)
        client.ensure_reachable()
        prepare = getattr(serde, "prepare_write", None)
        if prepare is not None and self._output_of(topic) is not None:
            prepare()
        return Envelope(serde) if headers else PlainEnvelope(serde)

    def stage(self, name: str) -> StagePlan:
        for plan in self.stages:
            if plan.name == name:
                return plan
        raise ConfigError(
            f"pipe {self.name!r} has no stage {name!r}; stages: "
            f"{', '.join(p.name for p in self.stages)}"
        )

    def resume_lag_for(self, plan: StagePlan) -> int:
        """The low mark for ``plan``: the pipe's ratio applied to the stage's bound."""
        if plan.max_lag == self.max_lag:
            return self.resume_lag
        return plan.max_lag * self.resume_lag // self.max_lag

    def topics(self) -> list[tuple[str, int]]:
        """Every topic the pipe uses with its partition count (created on start)."""
        found: dict[str, int] = {}
        for plan in self.stages:
            found[plan.input_topic] = plan.partitions
            found[plan.dlq_topic] = plan.partitions
        for topic in self.output_topics.values():
            found[topic] = self.partitions
        return sorted(found.items())

    def with_namespace(self, namespace: str) -> PipeDefinition:
        """The same pipe wired to topics under another namespace."""
        if namespace == self.namespace:
            return self
        renamed = []
        for plan in self.stages:
            def move(topic: str | None) -> str | None:
                if topic is None:
                    return None
                return namespace + topic[len(self.namespace):]
            renamed.append(replace(
                plan,
                input_topic=stage_input_topic(namespace, plan.name),
                next_topic=move(plan.next_topic),
                group=f"{namespace}.{plan.name}",
                dlq_topic=f"{namespace}.{plan.name}.dlq",
                downstream_group=move(plan.downstream_group),
                downstream_topic=move(plan.downstream_topic),
                changelogs=_changelogs(namespace, plan.spec),
            ))
        return replace(self, namespace=namespace, stages=tuple(renamed))

    def describe(self) -> dict[str, Any]:
        """A JSON-friendly view of the whole graph."""
        return {
            "pipe": self.name,
            "namespace": self.namespace,
            "delivery": self.delivery,
            "ordering": self.ordering,
            "commit_interval_ms": round(self.commit_interval * 1000),
            "input_topic": self.input_topic,
            "input_serde": self.input_serde,
            "stages": [
                {
                    "name": plan.name,
                    "kind": plan.kind,
                    "input_topic": plan.input_topic,
                    "output_topics": (
                        [plan.next_topic] if plan.next_topic is not None
                        else sorted({self.output_topic(r.output) for r in plan.spec.routes}
                                    | {self.output_topic(DEFAULT_OUTPUT)})
                    ),
                    "consumer_group": plan.group,
                    "dlq_topic": plan.dlq_topic,
                    "partitions": plan.partitions,
                    "max_lag": plan.max_lag,
                    "on_error": plan.policy.describe(),
                    "state": [{"store": store, "changelog": topic}
                              for store, topic in plan.changelogs],
                    "options": plan.spec.describe(),
                }
                for plan in self.stages
            ],
            "outputs": {name: topic for name, topic in self.output_topics.items()},
            "output_serdes": {name: self.output_serdes.get(name, DEFAULT_SERDE)
                              for name in self.outputs},
            "plain_outputs": sorted(self.plain_outputs),
            "schema_registry": (self.schema_registry.describe()
                                if self.schema_registry is not None else None),
            "stores": [{"name": s.name, "store": s.store_name} for s in self.stores],
        }


def state_changelog_topic(namespace: str, stage: str, store: str) -> str:
    """The changelog of a stage's keyed state store (compacted, partitioned like the
    stage's input)."""
    return f"{namespace}.{stage}.{store}.changelog"


def _changelogs(namespace: str, spec: StageSpec) -> tuple[tuple[str, str], ...]:
    stores = spec.state if isinstance(spec, LocalSpec) else ()
    return tuple((store.name, state_changelog_topic(namespace, spec.name, store.name))
                 for store in stores)


def stage_input_topic(namespace: str, stage: str) -> str:
    return f"{namespace}.{stage}.in"


def output_topic(namespace: str, output: str) -> str:
    return f"{namespace}.out.{output}"
