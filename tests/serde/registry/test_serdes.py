"""Registry-backed serdes against a real registry (Apicurio's Confluent API).

Bytes are compared with what confluent-kafka's stock serializers write and read,
so the wire format is the one every Confluent-speaking service uses.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Callable
from typing import Any

import pytest
from confluent_kafka.schema_registry import Schema, topic_subject_name_strategy
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.schema_registry.json_schema import JSONDeserializer, JSONSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

from slither_stream.errors import SerializationError
from slither_stream.serde import (
    IncompatibleSchemaError,
    RegistryAvroSerde,
    RegistryClient,
    RegistryJsonSchemaSerde,
    SchemaNotRegisteredError,
)
from tests.serde.registry.conftest import TXN_BROKEN, TXN_V1, TXN_V2

pytestmark = pytest.mark.registry

Names = Callable[[str], str]
ROW = {"txn_id": "t-1", "amount": 12.5}


def stock_serializer(client: RegistryClient, schema: dict[str, Any], *,
                     register: bool = False) -> AvroSerializer:
    return AvroSerializer(client.confluent, json.dumps(schema), conf={
        "auto.register.schemas": register, "subject.name.strategy": topic_subject_name_strategy})


def stock_deserializer(client: RegistryClient, reader: dict[str, Any] | None = None
                       ) -> AvroDeserializer:
    return AvroDeserializer(client.confluent, json.dumps(reader) if reader else None,
                            conf={"subject.name.strategy": topic_subject_name_strategy})


def value_of(topic: str) -> SerializationContext:
    return SerializationContext(topic, MessageField.VALUE)


def test_round_trip_is_the_confluent_wire_format(client: RegistryClient,
                                                 unique_name: Names) -> None:
    topic = unique_name("txns")
    ours = RegistryAvroSerde(TXN_V1, client, topic=topic, auto_register=True)
    data = ours.encode(ROW)
    registered = client.lookup(f"{topic}-value", Schema(json.dumps(TXN_V1), "AVRO"))
    assert registered is not None and ours.schema_id == registered.schema_id
    assert data[:5] == struct.pack(">bI", 0, registered.schema_id)
    assert stock_deserializer(client)(data, value_of(topic)) == ROW
    assert stock_serializer(client, TXN_V1)(ROW, value_of(topic)) == data
    assert RegistryAvroSerde(TXN_V1, client, topic=topic).decode(data) == ROW


def test_auto_register_is_off_by_default_and_a_missing_subject_is_named(
        client: RegistryClient, unique_name: Names) -> None:
    topic = unique_name("unregistered")
    serde = RegistryAvroSerde(TXN_V1, client, topic=topic)
    with pytest.raises(SchemaNotRegisteredError) as caught:
        serde.encode(ROW)
    message = str(caught.value)
    assert f"subject '{topic}-value'" in message and "auto_register is off" in message
    assert "the subject does not exist" in message
    assert client.versions(f"{topic}-value") == []  # nothing was registered


def test_an_incompatible_schema_is_refused_naming_subject_version_and_field(
        client: RegistryClient, unique_name: Names) -> None:
    topic = unique_name("evolving")
    client.register(f"{topic}-value", Schema(json.dumps(TXN_V1), "AVRO"))
    for auto_register in (False, True):
        serde = RegistryAvroSerde(TXN_BROKEN, client, topic=topic, auto_register=auto_register)
        with pytest.raises(IncompatibleSchemaError) as caught:
            serde.prepare_write()
        error = caught.value
        assert (error.subject, error.version) == (f"{topic}-value", 1)
        assert "field 'country': missing from the writer schema and has no default" in str(error)
    assert client.versions(f"{topic}-value") == [1]
    # A compatible evolution (a new field with a default) is registered when allowed.
    evolved = RegistryAvroSerde(TXN_V2, client, topic=topic, auto_register=True)
    assert evolved.prepare_write() > 0
    assert client.versions(f"{topic}-value") == [1, 2]


def test_reader_schema_resolution_in_both_directions(client: RegistryClient,
                                                     unique_name: Names) -> None:
    topic = unique_name("resolve")
    old_data = stock_serializer(client, TXN_V1, register=True)(ROW, value_of(topic))
    new_data = stock_serializer(client, TXN_V2, register=True)(
        {**ROW, "currency": "USD"}, value_of(topic))
    assert old_data[1:5] != new_data[1:5]  # two versions, two ids
    reader_v1 = RegistryAvroSerde(TXN_V1, client, topic=topic)
    reader_v2 = RegistryAvroSerde(TXN_V2, client, topic=topic)
    assert reader_v1.decode(new_data) == ROW  # the new field is dropped
    assert reader_v2.decode(old_data) == {**ROW, "currency": "EUR"}  # its default is filled
    assert reader_v2.decode(new_data) == {**ROW, "currency": "USD"}


def test_writer_schemas_are_fetched_once_per_id(client: RegistryClient, unique_name: Names,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    topic = unique_name("cached")
    data = stock_serializer(client, TXN_V2, register=True)(
        {**ROW, "currency": "USD"}, value_of(topic))
    reader = RegistryAvroSerde(TXN_V1, client, topic=topic)
    calls = []
    fetch = client.schema_by_id
    monkeypatch.setattr(client, "schema_by_id", lambda *a, **k: calls.append(a) or fetch(*a, **k))
    for _ in range(50):
        assert reader.decode(data) == ROW
    assert len(calls) == 1


@pytest.mark.parametrize("strategy, subject", [
    ("record", "t.Txn"), ("topic_record", "{topic}-t.Txn")])
def test_record_subject_strategies(client: RegistryClient, unique_name: Names,
                                   strategy: str, subject: str) -> None:
    topic = unique_name("strategies")
    named = {**TXN_V1, "namespace": unique_name("ns").replace("-", "_")}
    serde = RegistryAvroSerde(named, client, topic=topic, subject_strategy=strategy,  # type: ignore[arg-type]
                              auto_register=True)
    expected = subject.format(topic=topic).replace("t.Txn", f"{named['namespace']}.Txn")
    assert serde.subject == expected
    serde.prepare_write()
    assert client.versions(expected) == [1]


def test_bad_bytes_are_serialization_errors_with_the_reason(client: RegistryClient,
                                                            unique_name: Names) -> None:
    topic = unique_name("bad")
    serde = RegistryAvroSerde(TXN_V1, client, topic=topic, auto_register=True)
    good = serde.encode(ROW)
    json_schema = {"type": "object", "properties": {"a": {"type": "string"}}}
    json_id = client.register(unique_name("j") + "-value",
                              Schema(json.dumps(json_schema), "JSON"))
    cases = {
        b'{"txn_id": "t-1"}': "wrong magic byte 0x7b",
        b"\x00\x7f\xff\xff\x00" + good[5:]: "unknown schema id 2147483392",
        struct.pack(">bI", 0, json_id) + good[5:]: "is a JSON schema, not Avro",
        good[:-3]: "truncated data",
        b"\x00\x00": "too short for a Confluent frame",
    }
    for data, fragment in cases.items():
        with pytest.raises(SerializationError, match=fragment):
            serde.decode(data)


def test_json_schema_serde_speaks_the_confluent_format(client: RegistryClient,
                                                      unique_name: Names) -> None:
    topic = unique_name("jsontopic")
    schema = {"$schema": "http://json-schema.org/draft-07/schema#", "title": "Reading",
              "type": "object", "required": ["sensor", "value"],
              "properties": {"sensor": {"type": "string"}, "value": {"type": "number"}}}
    ours = RegistryJsonSchemaSerde(schema, client, topic=topic, auto_register=True)
    reading = {"sensor": "s-1", "value": 21.5}
    data = ours.encode(reading)
    assert data[:1] == b"\x00" and ours.schema_id is not None
    assert data[1:5] == struct.pack(">I", ours.schema_id)
    stock_in = JSONDeserializer(json.dumps(schema), schema_registry_client=client.confluent)
    assert stock_in(data, value_of(topic)) == reading
    stock_out = JSONSerializer(json.dumps(schema), client.confluent, conf={
        "auto.register.schemas": False, "subject.name.strategy": topic_subject_name_strategy})
    assert ours.decode(stock_out(reading, value_of(topic))) == reading
    with pytest.raises(SerializationError, match="'value' is a required property"):
        ours.encode({"sensor": "s-1"})
    with pytest.raises(SerializationError) as caught:
        ours.encode({"sensor": "s-1", "value": "hot"})
    assert caught.value.field == "value"
    avro = RegistryAvroSerde(TXN_V1, client, topic=unique_name("a"), auto_register=True)
    with pytest.raises(SerializationError, match="is a AVRO schema, not JSON Schema"):
        ours.decode(avro.encode(ROW))
