"""slither-stream's Avro and the official Apache ``avro`` package read each other's bytes."""

from __future__ import annotations

import io
import json
import struct
from typing import Any

import avro.io
import avro.schema
from hypothesis import HealthCheck, given, settings

from slither_stream.serde import AvroSchema, AvroSerde
from tests.serde.conftest import ORDER_SCHEMA
from tests.serde.orders import orders, sample_order

APACHE_ORDER = avro.schema.parse(json.dumps(ORDER_SCHEMA))


def apache_write(value: dict[str, Any], schema: Any = APACHE_ORDER) -> bytes:
    buffer = io.BytesIO()
    avro.io.DatumWriter(schema).write(value, avro.io.BinaryEncoder(buffer))
    return buffer.getvalue()


def apache_read(body: bytes, writer: Any = APACHE_ORDER, reader: Any = None) -> Any:
    datum_reader = avro.io.DatumReader(writer, reader or writer)
    return datum_reader.read(avro.io.BinaryDecoder(io.BytesIO(body)))


def test_our_bytes_are_read_by_apache_avro(order_schema: AvroSchema) -> None:
    value = sample_order()
    data = AvroSerde(order_schema, framing=False).encode(value)
    assert apache_read(data) == value


def test_apache_bytes_are_read_by_us(order_schema: AvroSchema) -> None:
    value = sample_order()
    assert AvroSerde(order_schema, framing=False).decode(apache_write(value)) == value


def test_both_write_identical_bytes(order_schema: AvroSchema) -> None:
    value = sample_order()
    assert AvroSerde(order_schema, framing=False).encode(value) == apache_write(value)


def test_confluent_frame_wraps_a_body_apache_avro_reads(order_schema: AvroSchema) -> None:
    value = sample_order()
    framed = AvroSerde(order_schema).encode(value)
    magic, schema_id = struct.unpack(">bI", framed[:5])
    assert (magic, schema_id) == (0, order_schema.schema_id)
    assert apache_read(framed[5:]) == value
    # and an Apache-written body framed by hand (as Confluent tools do) decodes
    by_hand = struct.pack(">bI", 0, order_schema.schema_id) + apache_write(value)
    assert AvroSerde(order_schema).decode(by_hand) == value


def test_schema_resolution_matches_apache_avro(order_schema: AvroSchema) -> None:
    """Old writer schema, new reader schema with an added defaulted field."""
    reader_doc = json.loads(json.dumps(ORDER_SCHEMA))
    reader_doc["fields"].append({"name": "channel", "type": "string", "default": "web"})
    reader_doc["fields"] = [f for f in reader_doc["fields"] if f["name"] != "ratio"]
    ours = AvroSerde(reader_doc, framing=False, writer_schema=order_schema)
    body = apache_write(sample_order())
    expected = apache_read(body, APACHE_ORDER, avro.schema.parse(json.dumps(reader_doc)))
    decoded = ours.decode(body)
    assert decoded == expected
    assert decoded["channel"] == "web"
    assert "ratio" not in decoded


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=orders())
def test_any_order_crosses_both_ways(order_schema: AvroSchema, value: dict[str, Any]) -> None:
    serde = AvroSerde(order_schema, framing=False)
    ours = serde.encode(value)
    assert apache_read(ours) == value
    assert serde.decode(apache_write(value)) == value
    assert ours == apache_write(value)
