"""Per-topic serdes: what a pipe declares, how it is checked, and what a run writes."""

from __future__ import annotations

import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from slither_stream.errors import ConfigError
from slither_stream.item import Item
from slither_stream.log import Log
from slither_stream.pipe import Pipe, PipeRunError, Runner
from slither_stream.pipe.engine.dlq import DeadLetter
from slither_stream.pipe.engine.envelope import PlainEnvelope
from slither_stream.pipe.render import render_text
from slither_stream.serde import SchemaRegistry
from tests.e2e.helpers import read_topic

Names = Callable[[str], str]

TXN = {"type": "record", "name": "Txn", "namespace": "t", "fields": [
    {"name": "txn_id", "type": "string"}, {"name": "amount", "type": "double"}]}
SCORED = {"type": "record", "name": "Scored", "namespace": "t", "fields": [
    {"name": "txn_id", "type": "string"}, {"name": "amount", "type": "double"},
    {"name": "risk", "type": "double"}]}


@pytest.fixture
def registry() -> SchemaRegistry:
    found = SchemaRegistry()
    found.register(TXN)
    found.register(SCORED)
    return found


def scored_pipe(registry: SchemaRegistry, policy: str = "dead_letter") -> Pipe:
    def score(item: Any, _ctx: Any) -> Any:
        risk = item.payload["amount"] / 100
        return {**item.payload, "risk": "high" if risk > 5 else risk}  # a str breaks Scored

    pipe = Pipe("serdes", partitions=2, input_serde="avro:t.Txn", schemas=registry)
    pipe.local("score", score)
    pipe.router("route", [(lambda item: item.payload["risk"] == "high", "loud"),
                          (lambda item: item.payload["risk"] < 0.5, "low"),
                          (lambda item: True, "high")])
    pipe.outputs("low", "high", serde="avro:t.Scored")
    pipe.output("loud")  # JSON: takes the str risk
    pipe.on_error("*", policy)  # type: ignore[arg-type]
    return pipe


# -- declaration --------------------------------------------------------------------


def test_unknown_schema_names_topic_and_schema(registry: SchemaRegistry) -> None:
    with pytest.raises(ConfigError) as caught:
        Pipe("p", input_serde="avro:t.Nope", schemas=registry)
    assert "pipe 'p' input topic" in str(caught.value)
    assert "unknown schema 't.Nope'" in str(caught.value)
    assert "known schemas: t.Scored, t.Txn" in str(caught.value)
    pipe = Pipe("p", schemas=registry)
    with pytest.raises(ConfigError, match=r"output topic p\.out\.a: serde 'avro:Missing': "
                                          r"unknown schema 'Missing'"):
        pipe.outputs("a", serde="avro:Missing")
    assert pipe.declared_outputs == ()  # nothing half-declared


@pytest.mark.parametrize("spec, fragment", [
    ("xml", "unknown serde 'xml'"), ("avro:", "needs a schema name"), ("", "spec string"),
    (7, "spec string"),
])
def test_bad_specs_are_refused(registry: SchemaRegistry, spec: Any, fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment):
        Pipe("p", schemas=registry).output("a", serde=spec)


def test_schemas_directory_and_default_lookup(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="pipe 'p': schemas: schema directory"):
        Pipe("p", schemas=tmp_path / "missing")
    (tmp_path / "t.Txn.avsc").write_text(
        '{"type": "record", "name": "t.Txn", "fields": [{"name": "a", "type": "int"}]}')
    assert Pipe("p", input_serde="avro:Txn", schemas=tmp_path).input_serde == "avro:Txn"
    monkeypatch.setenv("SLITHER_SCHEMAS", str(tmp_path))
    pipe = Pipe("p", input_serde=" avro:t.Txn ")
    assert pipe.input_serde == "avro:t.Txn" and pipe.schemas is not None
    assert Pipe("p", input_serde="JSON").schemas is None  # no registry unless Avro


def test_definition_maps_every_topic_to_its_serde(registry: SchemaRegistry) -> None:
    definition = scored_pipe(registry).compile().with_namespace("ns")
    assert definition.topic_serdes() == {
        "ns.score.in": "avro:t.Txn", "ns.score.dlq": "avro:t.Txn",  # dead letters: input
        "ns.route.in": "json", "ns.route.dlq": "json",
        "ns.out.low": "avro:t.Scored", "ns.out.high": "avro:t.Scored",
        "ns.out.loud": "json", "ns.out.default": "json"}
    described = definition.describe()
    assert described["input_serde"] == "avro:t.Txn"
    assert described["output_serdes"] == {"low": "avro:t.Scored", "high": "avro:t.Scored",
                                          "loud": "json", "default": "json"}
    assert definition.envelope("ns.out.low").serde.name == "avro:t.Scored"
    assert definition.envelope("ns.route.in").serde.name == "json"


def test_outputs_without_headers_are_declared_checked_and_described() -> None:
    pipe = Pipe("p").local("s", lambda item, _ctx: item.payload)
    pipe.outputs("plain", "default", headers=False).output("tagged")
    with pytest.raises(ConfigError, match=r"output 'x': headers must be True or False, "
                                          r"got 'no'"):
        pipe.output("x", headers="no")  # type: ignore[arg-type]
    assert "x" not in pipe.declared_outputs  # nothing half-declared
    definition = pipe.compile().with_namespace("ns")
    assert definition.plain_outputs == {"plain", "default"}
    assert definition.describe()["plain_outputs"] == ["default", "plain"]
    assert {t for t, _ in definition.topics() if not definition.writes_headers(t)} == {
        "ns.out.plain", "ns.out.default"}
    assert isinstance(definition.envelope("ns.out.default"), PlainEnvelope)
    assert not isinstance(definition.envelope("ns.out.tagged"), PlainEnvelope)
    assert not isinstance(definition.envelope("ns.s.in"), PlainEnvelope)
    text = render_text(definition)
    assert "writes    ns.out.default  serde json, no headers" in text
    assert "ns.out.plain  serde json, no headers" in text
    assert "ns.out.tagged  serde json\n" in text


# -- running ------------------------------------------------------------------------


def test_run_writes_each_topic_in_its_serde(log: Log, unique_name: Names,
                                            registry: SchemaRegistry) -> None:
    namespace = unique_name("serdes")
    inputs = [{"txn_id": f"t{n}", "amount": float(n * 20)} for n in range(6)]
    inputs.append({"txn_id": "big", "amount": 900.0})  # risk "high" -> loud (JSON)
    outputs = Runner.run(scored_pipe(registry), inputs, log=log, namespace=namespace,
                         timeout=60)
    assert sorted(i.payload["txn_id"] for i in outputs["low"]) == ["t0", "t1", "t2"]
    assert sorted(i.payload["txn_id"] for i in outputs["high"]) == ["t3", "t4", "t5"]
    assert [i.payload["risk"] for i in outputs["loud"]] == ["high"]
    header = struct.pack(">bI", 0, registry.get("t.Scored").schema_id)
    for record in read_topic(log, f"{namespace}.out.low"):
        assert (record.value or b"").startswith(header)
    txn_header = struct.pack(">bI", 0, registry.get("t.Txn").schema_id)
    assert all((r.value or b"").startswith(txn_header)
               for r in read_topic(log, f"{namespace}.score.in"))
    assert all((r.value or b"").startswith(b"{") for r in read_topic(log, f"{namespace}.route.in"))


def test_output_mismatch_halts_naming_field_and_topic(log: Log, unique_name: Names,
                                                      registry: SchemaRegistry) -> None:
    namespace = unique_name("serdes-halt")
    with pytest.raises(PipeRunError) as caught:
        Runner.run(misfit_pipe(registry, "halt"), [{"txn_id": "t1", "amount": 5.0}], log=log,
                   namespace=namespace, timeout=60)
    message = str(caught.value)
    assert f"output topic {namespace}.out.low" in message
    assert "field 'risk': expected double, got str 'n/a'" in message


def test_output_mismatch_is_dead_lettered_and_the_rest_flows(
        log: Log, unique_name: Names, registry: SchemaRegistry) -> None:
    namespace = unique_name("serdes-dlq")
    inputs = [{"txn_id": f"t{n}", "amount": float(n)} for n in range(5)]
    outputs = Runner.run(misfit_pipe(registry, "dead_letter"), inputs, log=log,
                         namespace=namespace, timeout=60)
    assert sorted(i.payload["txn_id"] for i in outputs["low"]) == ["t0", "t1", "t2", "t4"]
    letters = [DeadLetter.from_record(r) for r in read_topic(log, f"{namespace}.route.dlq")]
    assert len(letters) == 1
    assert letters[0].error_type == "SerializationError"
    assert f"output topic {namespace}.out.low" in letters[0].message
    assert "field 'risk'" in letters[0].message


def misfit_pipe(registry: SchemaRegistry, policy: str) -> Pipe:
    """Amount 3 (and 5) gets a str risk, which the Scored output cannot hold."""
    def score(item: Any, _ctx: Any) -> Any:
        amount = item.payload["amount"]
        return {**item.payload, "risk": "n/a" if amount in (3.0, 5.0) else amount / 10}

    pipe = Pipe("serdes", input_serde="avro:t.Txn", schemas=registry)
    pipe.local("score", score)
    pipe.router("route", [(lambda item: True, "low")])
    pipe.outputs("low", serde="avro:t.Scored")
    pipe.on_error("*", policy)  # type: ignore[arg-type]
    return pipe


def test_an_output_without_headers_holds_plain_records(log: Log, unique_name: Names) -> None:
    """Items routed to a ``headers=False`` output arrive as key and value only;
    the other output keeps the envelope (id, meta, str key) of the same items."""
    namespace = unique_name("plain")
    pipe = Pipe("plain", partitions=2)
    pipe.local("tag", lambda item, _ctx: item.put_meta(seen=True))
    pipe.router("split", [(lambda item: item.payload["n"] % 2 == 0, "even")])
    pipe.output("even", headers=False)
    base = 10**12  # far from the process-wide counter that gives fresh ids
    inputs = [Item(base + n, {"n": n}, key=f"k{n}") for n in range(6)]
    outputs = Runner.run(pipe, inputs, log=log, namespace=namespace, timeout=60)
    even = read_topic(log, f"{namespace}.out.even")
    assert sorted(orjson.loads(r.value or b"")["n"] for r in even) == [0, 2, 4]
    assert all(r.headers == () for r in even)
    assert sorted(r.key or b"" for r in even) == [b"k0", b"k2", b"k4"]
    odd = read_topic(log, f"{namespace}.out.default")
    assert sorted(dict(r.headers)["slither.id"] for r in odd) == [
        str(base + n).encode() for n in (1, 3, 5)]
    assert all(dict(r.headers)["slither.meta"] == b'{"seen":true}' for r in odd)
    # read back through slither: plain records get fresh ids, bytes keys, no meta
    assert sorted(i.key for i in outputs["even"]) == [b"k0", b"k2", b"k4"]  # type: ignore[type-var]
    assert not {i.id for i in outputs["even"]} & {base, base + 2, base + 4}
    assert all(i.meta == {} for i in outputs["even"])
    assert sorted((i.id, i.key, i.meta["seen"]) for i in outputs["default"]) == [
        (base + 1, "k1", True), (base + 3, "k3", True), (base + 5, "k5", True)]
