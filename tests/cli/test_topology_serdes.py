"""The CLI uses the serde a topology declares per topic, on both backends.

``slither produce --topology`` writes Avro to an Avro input topic (Confluent framing,
the schema's id), a worker reads it and writes Avro outputs, ``slither consume
--topology`` prints them decoded. A record of another schema version on the input is
dead-lettered with an error naming its topic, partition, offset and field; an output
that does not fit its schema is dead-lettered naming the field and the output topic.
"""

from __future__ import annotations

import json
import struct
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from slither_stream.log import Log, Record, open_log
from slither_stream.pipe import Worker, load_topology
from slither_stream.pipe.definition import PipeDefinition
from slither_stream.pipe.deploy.runner import ensure_topics
from slither_stream.pipe.engine.dlq import DeadLetter
from slither_stream.serde import AvroSchema, AvroSerde, SchemaRegistry
from tests.cli.helpers import json_lines, slither
from tests.e2e.helpers import read_topic

Names = Callable[[str], str]

TXN = {"type": "record", "name": "Txn", "namespace": "tiny", "fields": [
    {"name": "txn_id", "type": "string"}, {"name": "user_id", "type": "string"},
    {"name": "amount", "type": "double"}]}
OLD_TXN = {**TXN, "fields": [*TXN["fields"][:2], {"name": "amount", "type": "string"}]}
SCORED = {"type": "record", "name": "Scored", "namespace": "tiny", "fields": [
    *TXN["fields"], {"name": "risk", "type": "double"}]}

TOPOLOGY = '''
from pathlib import Path
from slither_stream.pipe import Pipe

def score(item, ctx):
    amount = item.payload["amount"]
    return {**item.payload, "risk": "unknown" if amount < 0 else amount / 1000}

def low(item):
    return isinstance(item.payload["risk"], float) and item.payload["risk"] < 0.5

def always(item):
    return True

pipe = Pipe("tiny", partitions=2, input_serde="avro:tiny.Txn",
            schemas=Path(__file__).parent / "schemas")
pipe.local("score", score)
pipe.router("route", [(low, "low"), (always, "high")])
pipe.outputs("low", "high", serde="avro:tiny.Scored")
pipe.on_error("*", "dead_letter")
'''


@pytest.fixture(scope="module")
def topology(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A topology file with its own schema directory (an old Txn version in history/)."""
    root = tmp_path_factory.mktemp("tiny")
    (root / "schemas" / "history").mkdir(parents=True)
    (root / "schemas" / "tiny.Txn.avsc").write_text(json.dumps(TXN))
    (root / "schemas" / "tiny.Scored.avsc").write_text(json.dumps(SCORED))
    (root / "schemas" / "history" / "tiny.Txn.v0.avsc").write_text(json.dumps(OLD_TXN))
    path = root / "tiny_serde_topology.py"
    path.write_text(TOPOLOGY)
    return path


def txn(n: int, amount: float) -> dict[str, Any]:
    return {"txn_id": f"t{n}", "user_id": f"u{n % 3}", "amount": amount}


def run_worker_until(log: Log, definition: PipeDefinition, wanted: dict[str, int],
                     timeout: float = 90.0) -> dict[str, list[Record]]:
    """Run a worker until each topic of ``wanted`` holds that many records."""
    worker = Worker(log, definition)
    thread = threading.Thread(target=worker.run, name="test-tiny-serde-worker")
    thread.start()
    found: dict[str, list[Record]] = {topic: [] for topic in wanted}
    consumer = log.consumer(f"tiny-follow-{time.monotonic_ns()}")
    try:
        consumer.assign([(tp, 0) for topic in wanted for tp in log.partitions_of(topic)])
        deadline = time.monotonic() + timeout
        while any(len(found[topic]) < count for topic, count in wanted.items()):
            assert time.monotonic() < deadline, {t: len(r) for t, r in found.items()}
            for record in consumer.poll_batch(100, 0.5):
                found[record.topic].append(record)
    finally:
        consumer.close()
        worker.stop()
        thread.join()
    return found


def test_produce_worker_consume_in_declared_serdes(
        log_url: str, topology: Path, tmp_path: Path, unique_name: Names) -> None:
    namespace = unique_name("tiny")
    definition = load_topology(str(topology)).compile().with_namespace(namespace)
    registry = SchemaRegistry.load(topology.parent / "schemas")
    source_topic = definition.input_topic
    with open_log(log_url) as log:
        ensure_topics(log, definition)
    good = [txn(1, 120.0), txn(2, 800.0), txn(3, -5.0), txn(4, 40.0)]
    lines = [orjson.dumps(doc).decode() for doc in good]
    lines.insert(2, orjson.dumps({**txn(9, 1.0), "amount": "lots"}).decode())  # line 3
    source = tmp_path / "txns.jsonl"
    source.write_text("\n".join(lines) + "\n")

    produced = slither("produce", source_topic, str(source), "--topology", str(topology),
                       "--namespace", namespace, "--key-field", "user_id", "--log", log_url)
    assert produced.returncode == 1, produced.stderr  # one bad line, the others produced
    assert produced.stdout.strip() == f"produced 4 records to {source_topic}"
    assert "line 3: cannot encode as avro:tiny.Txn" in produced.stderr
    assert "field 'amount': expected double, got str 'lots'" in produced.stderr

    header = struct.pack(">bI", 0, registry.get("tiny.Txn").schema_id)
    with open_log(log_url) as log:
        written = read_topic(log, source_topic)
        assert len(written) == 4
        assert all((record.value or b"").startswith(header) for record in written)
        old = AvroSerde(AvroSchema.parse(OLD_TXN))  # an old producer, still on v0
        with log.producer() as producer:
            wrong = producer.send(source_topic, old.encode({**txn(7, 0), "amount": "7"}), b"u1")
            producer.send(source_topic, AvroSerde(registry.get("tiny.Txn")).encode(txn(8, 1.0)),
                          b"u1")  # a valid record right after the bad one
        found = run_worker_until(log, definition, {
            definition.output_topic("low"): 3, definition.output_topic("high"): 1,
            f"{namespace}.score.dlq": 1, f"{namespace}.route.dlq": 1})

    decode_error = DeadLetter.from_record(found[f"{namespace}.score.dlq"][0])
    assert decode_error.error_type == "SerializationError"
    assert (f"topic={source_topic} partition={wrong.partition} offset={wrong.offset}"
            in decode_error.message)
    assert "field 'amount': writer type string cannot be read as double" in decode_error.message
    misfit = DeadLetter.from_record(found[f"{namespace}.route.dlq"][0])
    assert f"output topic {namespace}.out.high" in misfit.message
    assert "field 'risk': expected double, got str 'unknown'" in misfit.message

    consumed = slither("consume", definition.output_topic("low"), "--topology", str(topology),
                       "--namespace", namespace, "--log", log_url)
    assert consumed.returncode == 0, consumed.stderr
    low = sorted(json_lines(consumed.stdout), key=lambda doc: doc["txn_id"])
    assert low == [{**txn(n, a), "risk": a / 1000} for n, a in ((1, 120.0), (4, 40.0), (8, 1.0))]
    high = slither("consume", definition.output_topic("high"), "--schema", "tiny.Scored",
                   "--schemas", str(topology.parent / "schemas"), "--log", log_url)
    assert high.returncode == 0, high.stderr  # --schema decodes without the topology
    assert json_lines(high.stdout) == [{**txn(2, 800.0), "risk": 0.8}]
    as_json = slither("consume", definition.output_topic("high"), "--log", log_url)
    assert as_json.returncode == 1 and "could not be decoded" in as_json.stderr
    scored_id = registry.get("tiny.Scored").schema_id
    assert f"look like Confluent-framed Avro, schema id {scored_id}" in as_json.stderr


def test_run_reports_lines_that_do_not_fit_the_input_schema(
        log_url: str, topology: Path, tmp_path: Path, unique_name: Names) -> None:
    namespace = unique_name("tiny-run")
    source = tmp_path / "in.jsonl"
    source.write_text("\n".join(orjson.dumps(doc).decode() for doc in [
        txn(1, 10.0), {"txn_id": "t2", "user_id": "u2"}, txn(3, 900.0)]) + "\n")
    done = slither("run", str(topology), "--input", str(source), "--log", log_url,
                   "--namespace", namespace, "--key-field", "user_id", "--timeout", "90",
                   timeout=180)
    assert done.returncode == 0, done.stderr
    assert "line 2:" in done.stderr and "field 'amount'" in done.stderr
    counts = {line.split()[0]: int(line.split()[1]) for line in done.stdout.splitlines()
              if line.startswith("  ") and len(line.split()) == 3}
    assert (counts["low"], counts["high"], counts["score"]) == (1, 1, 1)  # line 2: DLQ
    assert (f"read one back: slither consume {namespace}.out.low --topology {topology} "
            f"--namespace {namespace} --log {log_url}") in done.stdout
    consumed = slither("consume", f"{namespace}.out.high", "--topology", str(topology),
                       "--namespace", namespace, "--log", log_url)
    assert json_lines(consumed.stdout) == [{**txn(3, 900.0), "risk": 0.9}], consumed.stderr


def test_topology_topic_typo_is_a_usage_error(topology: Path, tmp_path: Path) -> None:
    source = tmp_path / "one.jsonl"
    source.write_text("{}\n")
    done = slither("produce", "tiny.scroe.in", str(source), "--topology", str(topology),
                   "--log", f"embedded://{tmp_path / 'log'}")
    assert done.returncode == 2
    assert "topic 'tiny.scroe.in' is not a topic of pipe 'tiny'" in done.stderr
    assert "tiny.score.in" in done.stderr


@pytest.mark.parametrize("output_format", ["text", "mermaid", "dot", "json"])
def test_describe_shows_each_topics_serde(topology: Path, output_format: str) -> None:
    done = slither("describe", str(topology), "--format", output_format)
    assert done.returncode == 0, done.stderr
    if output_format == "json":
        described = orjson.loads(done.stdout)
        assert described["input_serde"] == "avro:tiny.Txn"
        assert described["output_serdes"]["high"] == "avro:tiny.Scored"
        return
    newline = {"text": "\n", "mermaid": "<br/>", "dot": "\\n"}[output_format]
    if output_format == "text":
        assert "reads     tiny.score.in  (2 partitions)  serde avro:tiny.Txn" in done.stdout
        assert "high       tiny.out.high  serde avro:tiny.Scored" in done.stdout
        assert "writes    tiny.route.in  serde json" in done.stdout
    else:
        assert f"tiny.score.in{newline}pipe input{newline}serde avro:tiny.Txn" in done.stdout
        assert f"tiny.out.low{newline}serde avro:tiny.Scored" in done.stdout
        assert f"tiny.route.in{newline}serde json" in done.stdout


def test_topics_takes_log_on_the_group(log_url: str, unique_name: Names) -> None:
    topic = unique_name("group-log")
    created = slither("topics", "--log", log_url, "create", topic, "-p", "2")
    assert created.returncode == 0, created.stderr
    listed = slither("topics", "--log", log_url, "list")
    assert topic in listed.stdout.splitlines()
    described = slither("topics", "--log", "embedded:///nonexistent/ignored", "describe",
                        topic, "--json", "--log", log_url)  # the subcommand's wins
    assert orjson.loads(described.stdout)["partitions"] == 2
