"""Drawing a compiled pipe: plain text, Mermaid ``flowchart`` and Graphviz ``dot``.

All three come from one small graph model (:func:`pipe_graph`): topics and stages
are nodes, "reads" and "writes" are edges. Stage nodes carry kind and consumer group;
edges out of a router carry the output name and its predicate; dead-letter edges are
dotted; stores appear with their changelog topics. Every topic of the pipe shows the
serde its values are in (``serde avro:slither.examples.Transaction``, ``serde json``).
Keeping the model separate from the syntaxes means the three drawings cannot disagree
about the graph.

Node ids are generated (``stage_0``, ``topic_3``, ``store_1``), never derived from
user names, so a name with dots or quotes cannot break the syntax; labels are
escaped for each format.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from slither_stream.pipe.definition import PipeDefinition
from slither_stream.pipe.specs import DEFAULT_OUTPUT

NodeKind = Literal["topic", "stage", "store"]
EdgeStyle = Literal["solid", "dotted"]
FORMATS = ("text", "mermaid", "dot")


@dataclass(frozen=True)
class Node:
    id: str
    kind: NodeKind
    lines: tuple[str, ...]
    """The label, one entry per line; the first is the name."""


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    label: str | None = None
    style: EdgeStyle = "solid"


@dataclass(frozen=True)
class PipeGraph:
    title: str
    nodes: tuple[Node, ...]
    edges: tuple[Edge, ...]


class _Builder:
    def __init__(self) -> None:
        self.nodes: list[Node] = []
        self.edges: list[Edge] = []
        self._topics: dict[str, str] = {}

    def topic(self, name: str, *extra: str) -> str:
        found = self._topics.get(name)
        if found is None:
            found = f"topic_{len(self._topics)}"
            self._topics[name] = found
            self.nodes.append(Node(found, "topic", (name, *extra)))
        return found

    def node(self, node: Node) -> str:
        self.nodes.append(node)
        return node.id

    def edge(self, source: str, target: str, label: str | None = None,
             style: EdgeStyle = "solid") -> None:
        self.edges.append(Edge(source, target, label, style))


def pipe_graph(definition: PipeDefinition,
               changelogs: Mapping[str, Sequence[str]] | None = None) -> PipeGraph:
    """The graph of ``definition``; ``changelogs`` maps a store's name in the pipe to
    its changelog topics (see ``describe``; omitted stores are drawn alone)."""
    build = _Builder()

    def topic(name: str, *extra: str) -> str:
        return build.topic(name, *extra, _topic_format(definition, name))

    topic(definition.input_topic, "pipe input")
    for plan in definition.stages:
        stage = build.node(Node(f"stage_{plan.index}", "stage",
                                (plan.name, f"{plan.kind} stage", f"group {plan.group}")))
        build.edge(topic(plan.input_topic), stage)
        if plan.next_topic is not None:
            build.edge(stage, topic(plan.next_topic))
        else:
            for route in plan.spec.routes:
                build.edge(stage, topic(definition.output_topic(route.output)),
                           f"{route.output}: {route.predicate_name}")
            build.edge(stage, topic(definition.output_topic(DEFAULT_OUTPUT)),
                       f"{DEFAULT_OUTPUT}: unmatched")
        build.edge(stage, topic(plan.dlq_topic), f"dead letters ({plan.policy.name})",
                   "dotted")
    for index, store in enumerate(definition.stores):
        node = build.node(Node(f"store_{index}", "store", (store.name, store.store_name)))
        for changelog in (changelogs or {}).get(store.name, ()):
            build.edge(node, build.topic(changelog, "changelog"), "changelog", "dotted")
    return PipeGraph(f"pipe {definition.name} (namespace {definition.namespace})",
                     tuple(build.nodes), tuple(build.edges))


def _topic_format(definition: PipeDefinition, topic: str) -> str:
    """How ``topic``'s records are written: its serde, and whether without headers."""
    text = f"serde {definition.serde_spec(topic)}"
    return text if definition.writes_headers(topic) else f"{text}, no headers"


# -- text ----------------------------------------------------------------------------


def render_text(definition: PipeDefinition,
                changelogs: Mapping[str, Sequence[str]] | None = None) -> str:
    """A readable summary, stage by stage (each topic followed by its serde)."""

    def serde(topic: str) -> str:
        return f"  {_topic_format(definition, topic)}"

    lines = [f"pipe {definition.name}", f"  namespace  {definition.namespace}",
             f"  delivery   {definition.delivery}", f"  ordering   {definition.ordering}",
             f"  input      {definition.input_topic}{serde(definition.input_topic)}"]
    if definition.schema_registry is not None:
        registry = definition.schema_registry.describe()
        lines.append(f"  registry   {registry['url']} (auth {registry['auth']}, subjects "
                     f"{registry['subject_strategy']}, auto-register "
                     f"{'on' if registry['auto_register'] else 'off'})")
    lines.append("stages:")
    for plan in definition.stages:
        lines.append(f"  {plan.index + 1}. {plan.name} ({plan.kind})")
        lines.append(f"     group     {plan.group}")
        lines.append(f"     reads     {plan.input_topic}  ({plan.partitions} partitions)"
                     f"{serde(plan.input_topic)}")
        if plan.next_topic is not None:
            lines.append(f"     writes    {plan.next_topic}{serde(plan.next_topic)}")
        else:
            for route in plan.spec.routes:
                target = definition.output_topic(route.output)
                lines.append(f"     routes    {route.predicate_name} -> {target}"
                             f"{serde(target)}")
            target = definition.output_topic(DEFAULT_OUTPUT)
            lines.append(f"     routes    unmatched -> {target}{serde(target)}")
        for state, changelog in plan.changelogs:
            lines.append(f"     state     {state}  changelog {changelog}")
        lines.append(f"     on error  {_policy_text(plan.policy.describe())}; "
                     f"dead letters {plan.dlq_topic}")
    lines.append("outputs:")
    for name, topic in definition.output_topics.items():
        lines.append(f"  {name:<10} {topic}{serde(topic)}")
    lines.append("stores:" if definition.stores else "stores: none")
    for store in definition.stores:
        lines.append(f"  {store.name:<10} {store.store_name}")
        for topic in (changelogs or {}).get(store.name, ()):
            lines.append(f"  {'':<10} changelog {topic}")
    return "\n".join(lines)


def _policy_text(policy: Mapping[str, object]) -> str:
    if policy["policy"] == "retry":
        return f"retry {policy['max_attempts']}x then {policy['then']}"
    return str(policy["policy"])


# -- mermaid -------------------------------------------------------------------------

_MERMAID_SHAPES: dict[NodeKind, tuple[str, str]] = {
    "topic": ('[("', '")]'),
    "stage": ('["', '"]'),
    "store": ('[["', '"]]'),
}


def mermaid_label(text: str) -> str:
    """Escape text for a quoted Mermaid label (entity codes; no raw quotes or pipes)."""
    escaped = (text.replace("&", "#amp;").replace('"', "#quot;").replace("|", "#124;")
               .replace("<", "#lt;").replace(">", "#gt;"))
    return escaped


def render_mermaid(graph: PipeGraph) -> str:
    """A ``flowchart LR`` with cylinders for topics and subroutine boxes for stores."""
    lines = ["flowchart LR", f"  %% {graph.title}"]
    for node in graph.nodes:
        opening, closing = _MERMAID_SHAPES[node.kind]
        label = "<br/>".join(mermaid_label(line) for line in node.lines)
        lines.append(f"  {node.id}{opening}{label}{closing}")
    for edge in graph.edges:
        arrow = "-->" if edge.style == "solid" else "-.->"
        label = "" if edge.label is None else f'|"{mermaid_label(edge.label)}"|'
        lines.append(f"  {edge.source} {arrow}{label} {edge.target}")
    for kind in ("topic", "stage", "store"):
        members = [node.id for node in graph.nodes if node.kind == kind]
        if members:
            lines.append(f"  class {','.join(members)} {kind}")
    lines.extend([
        "  classDef topic fill:#eef,stroke:#447",
        "  classDef stage fill:#efe,stroke:#474",
        "  classDef store fill:#fee,stroke:#744",
    ])
    return "\n".join(lines)


# -- dot -----------------------------------------------------------------------------

_DOT_SHAPES: dict[NodeKind, str] = {"topic": "cylinder", "stage": "box", "store": "box3d"}


def dot_string(text: str) -> str:
    """A double-quoted DOT string (backslashes and quotes escaped)."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def render_dot(graph: PipeGraph) -> str:
    """A ``digraph`` for Graphviz."""
    lines = ["digraph pipe {", "  rankdir=LR;", f"  label={dot_string(graph.title)};",
             "  node [fontname=Helvetica];"]
    for node in graph.nodes:
        label = dot_string("\n".join(node.lines))
        lines.append(f"  {node.id} [shape={_DOT_SHAPES[node.kind]}, label={label}];")
    for edge in graph.edges:
        attributes = []
        if edge.label is not None:
            attributes.append(f"label={dot_string(edge.label)}")
        if edge.style == "dotted":
            attributes.append("style=dashed")
        suffix = f" [{', '.join(attributes)}]" if attributes else ""
        lines.append(f"  {edge.source} -> {edge.target}{suffix};")
    lines.append("}")
    return "\n".join(lines)
