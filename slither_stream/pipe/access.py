"""The Kafka ACLs a pipe needs, derived from its definition.

:func:`required_access` lists every permission (:class:`~slither_stream.log.Access`)
the workers of a pipe use, stage by stage, with the reason: what ``slither describe
--acls`` prints and what a worker checks (:meth:`Log.check_access
<slither_stream.log.base.Log.check_access>`) before its stages start. Names follow
the definition, so a namespace moves every entry with it:

* a stage reads its input topic as a member of its consumer group (READ on both);
  writes its next topic (or a router's outputs), the pipe's outputs it may emit to,
  its dead-letter topic and the changelogs of its keyed state (WRITE); reads those
  changelogs back to restore and for standbys, in groups under its own
  (``<group>.restore``, ``<group>.standby``: READ on the group prefix); measures the
  next stage's lag for backpressure (DESCRIBE on the next group and topic);
* under exactly_once its transactional producer is ``<group>.<member>`` (WRITE on
  the TRANSACTIONAL_ID prefix ``<group>.``);
* a global store's owner writes ``<ns>.<store>.<table>.changelog`` transactionally
  (``<ns>.<store>.owner-<host hash>``), restores, follows and reloads in groups under
  ``<ns>.<store>.``, and answers ``slither reload`` on ``<ns>.control`` /
  ``<ns>.control.replies`` in groups under ``<ns>.control.``;
* workers create missing topics when they start (CREATE on the namespace prefix; not
  needed when an admin creates the topics first: ``slither topics create``);
* idempotent producers need IDEMPOTENT_WRITE on the cluster on brokers before Kafka
  2.8 only (KIP-679: WRITE on a topic implies it since).

Kafka implies DESCRIBE with READ and WRITE; :func:`acl_rows` folds those away for
people.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from slither_stream.log.types import Access, Operation, PatternType, ResourceType
from slither_stream.pipe.definition import PipeDefinition, StagePlan
from slither_stream.pipe.specs import DEFAULT_OUTPUT

CLUSTER = "kafka-cluster"


def required_access(definition: PipeDefinition, *, stages: Sequence[str] | None = None,
                    stores: Mapping[str, Sequence[str]] | None = None,
                    creates_topics: bool = True) -> list[Access]:
    """Every permission the workers of ``definition`` need for ``stages`` (default
    all); ``stores`` (each store's name -> its changelog topics) adds the pipe's
    global stores, whose names and tables only the store classes know."""
    chosen = [definition.stage(name) for name in stages] if stages else list(definition.stages)
    found: list[Access] = []
    for plan in chosen:
        found.extend(_stage_access(definition, plan))
    ns = definition.namespace
    for store, changelogs in (stores or {}).items():
        for topic in changelogs:
            why = f"changelog of store {store}"
            found += [Access("TOPIC", topic, "READ", reason=why),
                      Access("TOPIC", topic, "WRITE", reason=why)]
        found += [
            Access("GROUP", f"{ns}.{store}.", "READ", "PREFIXED",
                   f"store {store}: restore, follow and reload readers"),
            Access("TRANSACTIONAL_ID", f"{ns}.{store}.owner-", "WRITE", "PREFIXED",
                   f"store {store}: the owner's transactional writes"),
        ]
    if stores:
        for topic in (f"{ns}.control", f"{ns}.control.replies"):
            found += [Access("TOPIC", topic, "READ", reason="store reload requests"),
                      Access("TOPIC", topic, "WRITE", reason="store reload requests")]
        found.append(Access("GROUP", f"{ns}.control.", "READ", "PREFIXED",
                            "store reload requests"))
    if creates_topics:
        found.append(Access("TOPIC", f"{ns}.", "CREATE", "PREFIXED",
                            "workers create missing topics on start"))
    found.append(Access("CLUSTER", CLUSTER, "IDEMPOTENT_WRITE",
                        reason="idempotent producers, on brokers before Kafka 2.8 only"))
    return _unique(found)


def _stage_access(definition: PipeDefinition, plan: StagePlan) -> list[Access]:
    stage = plan.name
    found = [
        Access("TOPIC", plan.input_topic, "READ", reason=f"input of stage {stage}"),
        Access("GROUP", plan.group, "READ", reason=f"consumer group of stage {stage}"),
        Access("TOPIC", plan.dlq_topic, "WRITE", reason=f"dead letters of stage {stage}"),
    ]
    if plan.next_topic is not None and plan.downstream_topic is not None:
        found.append(Access("TOPIC", plan.next_topic, "WRITE",
                            reason=f"stage {stage} feeds the next stage"))
    outputs = ({route.output for route in plan.spec.routes} | {DEFAULT_OUTPUT}
               if plan.kind == "router" else set(definition.outputs))
    for output in sorted(outputs):
        found.append(Access("TOPIC", definition.output_topic(output), "WRITE",
                            reason=f"output {output} of stage {stage}"))
    for store, topic in plan.changelogs:
        why = f"keyed state {store} of stage {stage}"
        found += [Access("TOPIC", topic, "READ", reason=why),
                  Access("TOPIC", topic, "WRITE", reason=why)]
    if plan.changelogs:
        found.append(Access("GROUP", f"{plan.group}.", "READ", "PREFIXED",
                            f"stage {stage}: keyed state restore and standbys"))
    if plan.downstream_group is not None and plan.downstream_topic is not None:
        why = f"stage {stage} measures the next stage's lag"
        found += [Access("GROUP", plan.downstream_group, "DESCRIBE", reason=why),
                  Access("TOPIC", plan.downstream_topic, "DESCRIBE", reason=why)]
    if definition.delivery == "exactly_once":
        found.append(Access("TRANSACTIONAL_ID", f"{plan.group}.", "WRITE", "PREFIXED",
                            f"stage {stage}: transactional producer {plan.group}.<member>"))
    return found


def _unique(entries: Iterable[Access]) -> list[Access]:
    """The first entry of each (resource, operation), in order."""
    seen: dict[tuple[str, str, str, str], Access] = {}
    for entry in entries:
        seen.setdefault((entry.resource_type, entry.pattern, entry.name, entry.operation),
                        entry)
    return list(seen.values())


@dataclass(frozen=True)
class AclRow:
    """The operations one principal needs on one resource (for display)."""

    resource_type: ResourceType
    pattern: PatternType
    name: str
    operations: tuple[Operation, ...]
    reasons: tuple[str, ...]


_IMPLIES_DESCRIBE = {"READ", "WRITE"}


def acl_rows(entries: Iterable[Access]) -> list[AclRow]:
    """``entries`` grouped by resource, DESCRIBE dropped where READ or WRITE on the
    same resource implies it; ordered by resource type, then name."""
    grouped: dict[tuple[str, str, str], list[Access]] = {}
    for entry in entries:
        grouped.setdefault((entry.resource_type, entry.pattern, entry.name), []).append(entry)
    order = {"TOPIC": 0, "GROUP": 1, "TRANSACTIONAL_ID": 2, "CLUSTER": 3}
    rows = []
    for (_kind, _pattern, name), accesses in sorted(
            grouped.items(), key=lambda item: (order[item[0][0]], item[0][2], item[0][1])):
        operations = [a.operation for a in accesses]
        if _IMPLIES_DESCRIBE & set(operations):
            operations = [op for op in operations if op != "DESCRIBE"]
        reasons = tuple(dict.fromkeys(a.reason for a in accesses if a.reason))
        rows.append(AclRow(accesses[0].resource_type, accesses[0].pattern, name,
                           tuple(sorted(dict.fromkeys(operations))), reasons))
    return rows


_RESOURCE_FLAGS = {"TOPIC": "--topic", "GROUP": "--group",
                   "TRANSACTIONAL_ID": "--transactional-id", "CLUSTER": "--cluster"}


def kafka_acls_command(row: AclRow, principal: str) -> str:
    """The ``kafka-acls.sh --add`` command that grants ``row`` to ``principal``."""
    parts = ["kafka-acls.sh --bootstrap-server BROKER --command-config admin.properties "
             f"--add --allow-principal '{principal}'"]
    parts += [f"--operation {op}" for op in row.operations]
    flag = _RESOURCE_FLAGS[row.resource_type]
    parts.append(flag if row.resource_type == "CLUSTER" else f"{flag} '{row.name}'")
    if row.pattern == "PREFIXED":
        parts.append("--resource-pattern-type prefixed")
    return " ".join(parts)
