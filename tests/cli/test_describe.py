"""``slither describe``: text, JSON, and Mermaid / DOT that parse under a strict check.

No Mermaid or Graphviz tooling is installed, so the drawings are checked by small
strict parsers of exactly the subset ``slither_stream.pipe.render`` emits: every
line must be one of the known statements, node ids must be defined once before use,
shapes must close as they opened, labels must not contain raw quotes, and the graph
read back must be the pipe's (each stage between its input and its output topics).

Mermaid's own parser runs too when ``SLITHER_MERMAID_NODE_MODULES`` names a
``node_modules`` holding ``mermaid`` (11) and ``jsdom`` (``npm install mermaid@11
jsdom`` in any directory; not a project dependency: 180 MB and a registry fetch).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import orjson
import pytest

from slither_stream.pipe.loading import load_topology
from tests.cli.helpers import assert_one_line_error, slither

TOPOLOGY = "topologies/scoring.py"

ODD_TOPOLOGY = '''
from slither_stream.pipe import Pipe

odd = Pipe("odd_pipe-1")
odd.local("clean", lambda item, ctx: item.payload)
odd.router("split", [(lambda item: '"' in str(item.payload), "quoted")])
odd.outputs("quoted")
'''

# -- a strict Mermaid flowchart subset ----------------------------------------------

_ID = r"[A-Za-z_][A-Za-z0-9_]*"
_LABEL = r'[^"\[\]()|]*'
_MERMAID_NODE = re.compile(
    rf'^(?P<id>{_ID})(?:\[\("(?P<topic>{_LABEL})"\)\]|\["(?P<stage>{_LABEL})"\]'
    rf'|\[\["(?P<store>{_LABEL})"\]\])$')
_MERMAID_EDGE = re.compile(
    rf'^(?P<source>{_ID}) (?P<arrow>-->|-\.->)(?:\|"(?P<label>[^"|]*)"\|)? (?P<target>{_ID})$')
_MERMAID_CLASS = re.compile(rf"^class (?P<ids>{_ID}(?:,{_ID})*) (?P<name>{_ID})$")
_MERMAID_CLASSDEF = re.compile(rf"^classDef (?P<name>{_ID}) [a-z-]+:[#A-Za-z0-9]+(?:,[a-z-]+:"
                               rf"[#A-Za-z0-9]+)*$")
_ENTITY = re.compile(r"#(?:[a-z]+|[0-9]+);")


def unescape(label: str) -> str:
    names = {"#quot;": '"', "#amp;": "&", "#lt;": "<", "#gt;": ">", "#124;": "|"}
    assert all(m.group(0) in names for m in _ENTITY.finditer(label)), label
    return _ENTITY.sub(lambda m: names[m.group(0)], label)


def parse_mermaid(text: str) -> tuple[dict[str, tuple[str, list[str]]],
                                      list[tuple[str, str, str, str | None]]]:
    """Nodes (id -> kind, label lines) and edges (source, arrow, target, label)."""
    lines = text.splitlines()
    assert lines[0] == "flowchart LR", lines[0]
    nodes: dict[str, tuple[str, list[str]]] = {}
    edges: list[tuple[str, str, str, str | None]] = []
    classes: set[str] = set()
    defined_classes: set[str] = set()
    for number, raw in enumerate(lines[1:], start=2):
        line = raw.strip()
        assert raw.startswith("  ") and line, f"line {number}: {raw!r}"
        if line.startswith("%%"):
            continue
        if node := _MERMAID_NODE.match(line):
            assert node["id"] not in nodes, f"line {number}: {node['id']} defined twice"
            kind = next(k for k in ("topic", "stage", "store") if node[k] is not None)
            nodes[node["id"]] = (kind, [unescape(p) for p in node[kind].split("<br/>")])
        elif edge := _MERMAID_EDGE.match(line):
            for end in (edge["source"], edge["target"]):
                assert end in nodes, f"line {number}: edge uses undefined node {end}"
            label = None if edge["label"] is None else unescape(edge["label"])
            edges.append((edge["source"], edge["arrow"], edge["target"], label))
        elif assigned := _MERMAID_CLASS.match(line):
            assert all(i in nodes for i in assigned["ids"].split(",")), line
            classes.add(assigned["name"])
        elif classdef := _MERMAID_CLASSDEF.match(line):
            defined_classes.add(classdef["name"])
        else:
            pytest.fail(f"line {number} is not valid in the flowchart subset: {raw!r}")
    assert classes <= defined_classes
    return nodes, edges


# -- a strict DOT subset --------------------------------------------------------------

_DOT_STRING = r'"(?:[^"\\]|\\.)*"'
_DOT_NODE = re.compile(rf"^(?P<id>{_ID}) \[shape=(?P<shape>cylinder|box|box3d), "
                       rf"label=(?P<label>{_DOT_STRING})\];$")
_DOT_EDGE = re.compile(rf"^(?P<source>{_ID}) -> (?P<target>{_ID})"
                       rf"(?: \[(?:label=(?P<label>{_DOT_STRING}))?(?:, )?(?:style=dashed)?\])?;$")


def dot_text(quoted: str) -> str:
    return re.sub(r"\\(.)", lambda m: "\n" if m.group(1) == "n" else m.group(1), quoted[1:-1])


def parse_dot(text: str) -> tuple[dict[str, tuple[str, list[str]]],
                                  list[tuple[str, str, str | None]]]:
    lines = text.splitlines()
    assert lines[0] == "digraph pipe {" and lines[-1] == "}"
    shapes = {"cylinder": "topic", "box": "stage", "box3d": "store"}
    nodes: dict[str, tuple[str, list[str]]] = {}
    edges: list[tuple[str, str, str | None]] = []
    for raw in lines[1:-1]:
        line = raw.strip()
        if re.fullmatch(rf"(?:rankdir=LR|label={_DOT_STRING}|node \[fontname=Helvetica\]);",
                        line):
            continue
        if node := _DOT_NODE.match(line):
            assert node["id"] not in nodes
            nodes[node["id"]] = (shapes[node["shape"]], dot_text(node["label"]).split("\n"))
        elif edge := _DOT_EDGE.match(line):
            assert edge["source"] in nodes and edge["target"] in nodes, line
            label = None if edge["label"] is None else dot_text(edge["label"])
            edges.append((edge["source"], edge["target"], label))
        else:
            pytest.fail(f"not valid in the DOT subset: {raw!r}")
    return nodes, edges


def by_name(nodes: dict[str, tuple[str, list[str]]]) -> dict[tuple[str, str], str]:
    return {(kind, lines[0]): node_id for node_id, (kind, lines) in nodes.items()}


# -- tests ----------------------------------------------------------------------------


def test_mermaid_parses_and_is_the_pipe_graph() -> None:
    result = slither("describe", TOPOLOGY, "--format", "mermaid", "--namespace", "prod")
    assert result.returncode == 0, result.stderr
    nodes, edges = parse_mermaid(result.stdout)
    ids = by_name(nodes)
    definition = load_topology(TOPOLOGY).compile().with_namespace("prod")
    solid = {(s, t) for s, arrow, t, _ in edges if arrow == "-->"}
    for plan in definition.stages:
        stage = ids["stage", plan.name]
        assert f"group {plan.group}" in nodes[stage][1]
        assert f"{plan.kind} stage" in nodes[stage][1]
        assert (ids["topic", plan.input_topic], stage) in solid
        assert (stage, ids["topic", plan.dlq_topic], "-.->") in {
            (s, t, a) for s, a, t, _ in edges}
    routes = {label: target for source, _, target, label in edges
              if source == ids["stage", "route"] and label and ":" in label}
    for output in ("accept", "review", "reject"):
        match = [t for label, t in routes.items() if label.startswith(f"{output}: ")]
        assert match == [ids["topic", f"prod.out.{output}"]]
    store = ids["store", "features"]
    assert (store, "-.->", ids["topic", "prod.features.users.changelog"], "changelog") \
        in edges
    assert len(edges) == 3 * 3 + 3 + 1  # in/out/dlq per stage, router's extra outputs, store


def test_mermaid_escapes_odd_labels(tmp_path: Path) -> None:
    topology = tmp_path / "odd_topology.py"
    topology.write_text(ODD_TOPOLOGY)
    result = slither("describe", str(topology), "--format", "mermaid")
    assert result.returncode == 0, result.stderr
    nodes, edges = parse_mermaid(result.stdout)
    labels = [label for *_, label in edges if label is not None]
    assert any(label.startswith("quoted: ") and "<lambda>" in label for label in labels)
    assert ("topic", "odd_pipe-1.out.quoted") in by_name(nodes)


def test_dot_parses_and_matches_mermaid() -> None:
    mermaid = slither("describe", TOPOLOGY, "--format", "mermaid")
    dot = slither("describe", TOPOLOGY, "--format", "dot")
    assert dot.returncode == 0, dot.stderr
    dot_nodes, dot_edges = parse_dot(dot.stdout)
    mermaid_nodes, mermaid_edges = parse_mermaid(mermaid.stdout)
    assert dot_nodes == mermaid_nodes
    assert dot_edges == [(s, t, label) for s, _, t, label in mermaid_edges]


def test_text_and_json_name_every_part() -> None:
    text = slither("describe", TOPOLOGY)
    assert text.returncode == 0, text.stderr
    for fragment in ("1. enrich (local)", "2. score (compute)", "3. route (router)",
                     "group     scoring.score", "reads     scoring.route.in  (4 partitions)",
                     "routes    topologies.scoring:low_risk -> scoring.out.accept",
                     "on error  dead_letter; dead letters scoring.enrich.dlq",
                     "features   topologies.scoring:FeatureStore",
                     "changelog scoring.features.users.changelog"):
        assert fragment in text.stdout, fragment
    described = orjson.loads(slither("describe", TOPOLOGY, "--format", "json").stdout)
    assert described == {**load_topology(TOPOLOGY).compile().describe(), "stores": [
        {"name": "features", "store": "topologies.scoring:FeatureStore",
         "changelogs": ["scoring.features.users.changelog"]}]}


def test_describe_errors_are_one_line(tmp_path: Path) -> None:
    assert_one_line_error(slither("describe", TOPOLOGY, "--format", "svg"), 2, "--format")
    broken = tmp_path / "broken_topology.py"
    broken.write_text("import not_a_module_anywhere\n")
    assert_one_line_error(slither("describe", str(broken)), 2, "not_a_module_anywhere")


MERMAID_MODULES_ENV = "SLITHER_MERMAID_NODE_MODULES"
MERMAID_CHECK = """
import { JSDOM } from 'jsdom';
import fs from 'fs';
const dom = new JSDOM('<!doctype html><html><body></body></html>');
global.window = dom.window;
global.document = dom.window.document;
const { default: mermaid } = await import('mermaid');
mermaid.initialize({ startOnLoad: false });
for (const file of process.argv.slice(2)) {
  try {
    const parsed = await mermaid.parse(fs.readFileSync(file, 'utf8'));
    console.log(file, 'OK', parsed.diagramType);
  } catch (error) {
    console.log(file, 'FAIL', error.message.split('\\n')[0]);
  }
}
"""


@pytest.mark.skipif(not os.environ.get(MERMAID_MODULES_ENV) or shutil.which("node") is None,
                    reason=f"{MERMAID_MODULES_ENV} not set (scripts/test sets it with npm)")
def test_mermaid_own_parser_accepts_the_output(tmp_path: Path) -> None:
    (tmp_path / "node_modules").symlink_to(Path(os.environ[MERMAID_MODULES_ENV]).resolve())
    (tmp_path / "check.mjs").write_text(MERMAID_CHECK)
    (tmp_path / "odd_topology.py").write_text(ODD_TOPOLOGY)
    files = []
    for name, topology in (("scoring", TOPOLOGY), ("odd", str(tmp_path / "odd_topology.py"))):
        drawn = slither("describe", topology, "--format", "mermaid")
        assert drawn.returncode == 0, drawn.stderr
        (tmp_path / f"{name}.mmd").write_text(drawn.stdout)
        files.append(f"{name}.mmd")
    (tmp_path / "broken.mmd").write_text("flowchart LR\n  a[\"x\"] -->\n")
    result = subprocess.run(["node", "check.mjs", *files, "broken.mmd"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=120, check=False)
    verdicts = dict(line.split(" ", 2)[:2] for line in result.stdout.splitlines())
    assert verdicts == {"scoring.mmd": "OK", "odd.mmd": "OK", "broken.mmd": "FAIL"}, (
        result.stdout, result.stderr)


def test_text_shows_keyed_state_and_the_registry_without_its_secret() -> None:
    from slither_stream.pipe import Pipe
    from slither_stream.pipe.render import render_text
    from slither_stream.serde import RegistryConfig

    pipe = Pipe("totals", schema_registry=RegistryConfig(
        url="https://registry.example:8081", user_info="alice:s3cr3t-pw"))
    pipe.local("count", lambda item, ctx: item.payload, state=["totals", "seen"])
    text = render_text(pipe.compile().with_namespace("prod"))
    assert "     state     totals  changelog prod.count.totals.changelog" in text
    assert "     state     seen  changelog prod.count.seen.changelog" in text
    assert ("  registry   https://registry.example:8081 (auth basic (user alice), subjects "
            "topic, auto-register off)") in text, text
    assert "s3cr3t-pw" not in text
    bare = Pipe("plain", schema_registry=None)
    bare.local("tag", lambda item, ctx: item.payload)
    plain = render_text(bare.compile())
    assert "registry" not in plain and "state " not in plain
