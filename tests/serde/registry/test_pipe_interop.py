"""Pipes in registry mode, on real Kafka with the real registry, next to services that
use nothing but confluent-kafka: a stock ``AvroSerializer`` producer feeds a pipe and a
stock ``AvroDeserializer`` consumer reads what it writes, before and after a
compatible evolution on each side. Bad records go to the dead-letter topic with the
reason while the pipe keeps running; an incompatible schema stops it at start."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, Producer
from confluent_kafka.schema_registry import Schema, topic_subject_name_strategy
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

from slither_stream.log import open_log
from slither_stream.pipe import Pipe, Runner, Worker
from slither_stream.pipe.engine.dlq import DeadLetter
from slither_stream.serde import (
    IncompatibleSchemaError,
    RegistryClient,
    RegistryConfig,
    SchemaRegistry,
)
from tests.e2e.helpers import read_topic, wait_for_records
from tests.serde.registry.conftest import TXN_V1, TXN_V2
from tests.worker_thread import worker_thread

Names = Callable[[str], str]

SCORED_V1 = {"type": "record", "name": "Scored", "namespace": "t", "fields": [
    {"name": "txn_id", "type": "string"}, {"name": "amount", "type": "double"},
    {"name": "risk", "type": "double"}]}
SCORED_V2 = {"type": "record", "name": "Scored", "namespace": "t", "fields": [
    {"name": "txn_id", "type": "string"}, {"name": "amount", "type": "double"},
    {"name": "risk", "type": "double"},
    {"name": "model", "type": "string", "default": "v1"}]}
SCORED_BROKEN = {"type": "record", "name": "Scored", "namespace": "t", "fields": [
    {"name": "txn_id", "type": "string"}, {"name": "amount", "type": "string"},
    {"name": "risk", "type": "double"}]}


def scoring_pipe(name: str, config: RegistryConfig | None, scored: dict[str, Any],
                 model: str | None = None) -> Pipe:
    schemas = SchemaRegistry()
    schemas.register(TXN_V1)
    schemas.register(scored)

    def score(item: Any, _ctx: Any) -> Any:
        result = {"txn_id": item.payload["txn_id"], "amount": item.payload["amount"],
                  "risk": item.payload["amount"] / 100}
        return {**result, "model": model} if model else result

    pipe = Pipe(name, partitions=1, input_serde="avro:t.Txn", schemas=schemas,
                schema_registry=config)
    pipe.local("score", score)
    pipe.output("default", serde="avro:t.Scored", headers=False)
    pipe.on_error("*", "dead_letter")
    return pipe


@contextlib.contextmanager
def running(pipe: Pipe, log_url: str) -> Iterator[Worker]:
    with open_log(log_url) as log:
        worker = Worker(log, pipe.compile(), poll_timeout=0.1, tune_gc=False)
        with worker_thread(worker, name=f"test-worker-{pipe.name}", ready_timeout=60):
            yield worker


def stock_produce(bootstrap: str, client: RegistryClient, topic: str, schema: dict[str, Any],
                  rows: list[dict[str, Any]]) -> None:
    """What a plain Python service does: confluent-kafka Producer + AvroSerializer."""
    serialize = AvroSerializer(client.confluent, json.dumps(schema),
                               conf={"subject.name.strategy": topic_subject_name_strategy})
    producer = Producer({"bootstrap.servers": bootstrap})
    for row in rows:
        producer.produce(topic, value=serialize(row, SerializationContext(
            topic, MessageField.VALUE)))
    assert producer.flush(30) == 0


def stock_consume(bootstrap: str, client: RegistryClient, topic: str, count: int,
                  reader: dict[str, Any] | None = None) -> list[tuple[int, dict[str, Any]]]:
    """confluent-kafka Consumer + AvroDeserializer: (schema id, value) per record."""
    deserialize = AvroDeserializer(client.confluent, json.dumps(reader) if reader else None)
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"stock-{time.time_ns()}",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    consumer.subscribe([topic])
    found: list[tuple[int, dict[str, Any]]] = []
    deadline = time.monotonic() + 60
    try:
        while len(found) < count:
            assert time.monotonic() < deadline, f"{len(found)} of {count} on {topic}"
            message = consumer.poll(0.5)
            if message is None or message.error():
                continue
            data = message.value()
            found.append((int.from_bytes(data[1:5], "big"),
                          deserialize(data, SerializationContext(topic, MessageField.VALUE))))
    finally:
        consumer.close()
    return found


@pytest.mark.kafka
@pytest.mark.registry
def test_stock_confluent_services_on_both_sides_of_a_pipe(
        kafka_bootstrap: str, registry_config: RegistryConfig, unique_name: Names) -> None:
    name = unique_name("interop")
    client = RegistryClient(registry_config)
    input_topic, output_topic = f"{name}.score.in", f"{name}.out.default"
    client.register(f"{output_topic}-value", Schema(json.dumps(SCORED_V1), "AVRO"))
    log_url = f"kafka://{kafka_bootstrap}"
    with running(scoring_pipe(name, registry_config, SCORED_V1), log_url):
        stock_produce(kafka_bootstrap, client, input_topic, TXN_V1,
                      [{"txn_id": f"a{n}", "amount": float(n)} for n in range(3)])
        # The producer side evolves: a new field with a default (registered by the
        # stock serializer); the pipe, still reading as v1, takes both versions.
        stock_produce(kafka_bootstrap, client, input_topic, TXN_V2,
                      [{"txn_id": f"b{n}", "amount": 10.0 + n, "currency": "USD"}
                       for n in range(2)])
        # Bad records between good ones: dead-lettered with the reason.
        producer = Producer({"bootstrap.servers": kafka_bootstrap})
        producer.produce(input_topic, value=b'{"txn_id": "json"}')
        producer.produce(input_topic, value=b"\x00\x7f\xff\xff\x00\x06bad\x00")
        assert producer.flush(30) == 0
        stock_produce(kafka_bootstrap, client, input_topic, TXN_V1,
                      [{"txn_id": "c0", "amount": 50.0}])
        before = stock_consume(kafka_bootstrap, client, output_topic, 6)
    assert sorted(value["txn_id"] for _, value in before) == ["a0", "a1", "a2", "b0", "b1", "c0"]
    assert {value["risk"] for _, value in before if value["txn_id"] == "c0"} == {0.5}
    assert len({schema_id for schema_id, _ in before}) == 1
    log = open_log(log_url)
    try:
        letters = [DeadLetter.from_record(r)
                   for r in wait_for_records(log, f"{name}.score.dlq", 2)]
    finally:
        log.close()
    messages = sorted(letter.message for letter in letters)
    assert "wrong magic byte 0x7b" in messages[0]
    assert "unknown schema id 2147483392" in messages[1]
    assert all(letter.error_type == "SerializationError" for letter in letters)

    # The pipe's side evolves: Scored v2 (a new field with a default) is registered
    # and a new version of the pipe writes it; stock readers read old and new.
    client.register(f"{output_topic}-value", Schema(json.dumps(SCORED_V2), "AVRO"))
    with running(scoring_pipe(name, registry_config, SCORED_V2, model="v2"), log_url):
        stock_produce(kafka_bootstrap, client, input_topic, TXN_V1,
                      [{"txn_id": "d0", "amount": 70.0}])
        after = stock_consume(kafka_bootstrap, client, output_topic, 7)
    ids = sorted({schema_id for schema_id, _ in after})
    assert len(ids) == 2
    newest = [value for _, value in after if value["txn_id"] == "d0"]
    assert newest == [{"txn_id": "d0", "amount": 70.0, "risk": 0.7, "model": "v2"}]
    as_v1 = stock_consume(kafka_bootstrap, client, output_topic, 7, reader=SCORED_V1)
    assert {value["txn_id"]: value for _, value in as_v1}["d0"] == {
        "txn_id": "d0", "amount": 70.0, "risk": 0.7}


@pytest.mark.registry
def test_an_incompatible_output_schema_stops_the_pipe_at_start(
        tmp_path: Path, registry_config: RegistryConfig, unique_name: Names) -> None:
    name = unique_name("refused")
    client = RegistryClient(registry_config)
    client.register(f"{name}.out.default-value", Schema(json.dumps(SCORED_V1), "AVRO"))
    pipe = scoring_pipe(name, registry_config.with_options(auto_register=True), SCORED_BROKEN)
    log = open_log(f"embedded://{tmp_path / 'log'}")
    try:
        with pytest.raises(IncompatibleSchemaError) as caught:
            Worker(log, pipe.compile(), tune_gc=False).run()
    finally:
        log.close()
    error = caught.value
    assert (error.subject, error.version) == (f"{name}.out.default-value", 1)
    assert "field 'amount': writer type double cannot be read as string" in str(error)
    assert client.versions(f"{name}.out.default-value") == [1]  # nothing registered


@pytest.mark.registry
def test_switching_modes_is_configuration_only(
        tmp_path: Path, registry_config: RegistryConfig, unique_name: Names) -> None:
    """The same pipe on the embedded log: local CRC ids without a registry, registry
    ids with one; nothing else changes."""
    name = unique_name("modes")
    inputs = [{"txn_id": f"t{n}", "amount": float(n)} for n in range(3)]
    registered = registry_config.with_options(auto_register=True)
    for mode, config in (("local", None), ("registry", registered)):
        pipe = scoring_pipe(name, config, SCORED_V1)
        log = open_log(f"embedded://{tmp_path / mode}")
        try:
            outputs = Runner.run(pipe, inputs, log=log, namespace=name, timeout=60)
            records = read_topic(log, f"{name}.out.default")
        finally:
            log.close()
        assert sorted(item.payload["txn_id"] for item in outputs["default"]) == ["t0", "t1", "t2"]
        if config is None:
            assert pipe.schemas is not None
            expected_id = pipe.schemas.get("t.Scored").schema_id
        else:
            found = RegistryClient(config).latest(f"{name}.out.default-value")
            assert found is not None and found.schema_id is not None
            expected_id = found.schema_id
        assert {int.from_bytes((r.value or b"")[1:5], "big") for r in records} == {expected_id}
