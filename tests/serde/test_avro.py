"""AvroSerde: round trips, framing, schema ids and resolution, and clear errors."""

from __future__ import annotations

import copy
import struct
from typing import Any

import pytest

from slither_stream.errors import SerializationError
from slither_stream.serde import AvroSchema, AvroSerde, SchemaRegistry
from tests.serde.conftest import ORDER_SCHEMA
from tests.serde.orders import sample_order

TXN = {"txn_id": "t1", "user_id": "u7", "amount": 12.5, "hour": 23}


def test_transaction_round_trips_framed_and_bare(registry: SchemaRegistry) -> None:
    schema = registry.get("slither.examples.Transaction")
    for framing in (True, False):
        serde = AvroSerde(schema, framing=framing)
        data = serde.encode(TXN)
        assert serde.decode(data) == TXN
        assert (data[:5] == struct.pack(">bI", 0, schema.schema_id)) is framing


def test_names_say_framing(registry: SchemaRegistry) -> None:
    schema = registry.get("Transaction")
    assert AvroSerde(schema).name == "avro:slither.examples.Transaction"
    assert AvroSerde(schema, framing=False).name == "avro-bare:slither.examples.Transaction"


def test_record_of_another_schema_is_refused_naming_both(registry: SchemaRegistry) -> None:
    """Avro resolves only same-named records: a ScoredTransaction is no Transaction."""
    scored = dict(TXN, account_age_days=30, avg_amount=20.0, chargebacks=0, country_risk=0.1,
                  fraud_probability=0.93)
    data = AvroSerde(registry.get("ScoredTransaction")).encode(scored)
    reader = AvroSerde(registry.get("Transaction"), registry=registry)
    with pytest.raises(SerializationError) as caught:
        reader.decode(data)
    assert caught.value.reason == (
        f"writer schema slither.examples.ScoredTransaction "
        f"(id {registry.get('ScoredTransaction').schema_id}) read as "
        f"slither.examples.Transaction is not compatible: records of the writer schema "
        f"cannot be resolved to the reader schema: value: writer record "
        f"slither.examples.ScoredTransaction is not reader record slither.examples.Transaction")


def test_older_writer_versions_stay_readable(registry: SchemaRegistry) -> None:
    """Schema evolution: a v1 record (no ``channel``) read with the v2 reader's default."""
    v1 = copy.deepcopy(ORDER_SCHEMA)
    v2 = copy.deepcopy(ORDER_SCHEMA)
    v2["fields"].append({"name": "channel", "type": "string", "default": "web"})
    history = SchemaRegistry()
    old = history.register(v1, current=False)
    new = history.register(v2)
    assert old.schema_id != new.schema_id
    written = AvroSerde(old).encode(sample_order())
    decoded = AvroSerde(new, registry=history).decode(written)
    assert decoded == dict(sample_order(), channel="web")


def test_bare_decode_with_an_explicit_writer_schema() -> None:
    v2 = copy.deepcopy(ORDER_SCHEMA)
    v2["fields"].append({"name": "channel", "type": "string", "default": "web"})
    body = AvroSerde(ORDER_SCHEMA, framing=False).encode(sample_order())
    serde = AvroSerde(v2, framing=False, writer_schema=ORDER_SCHEMA)
    assert serde.decode(body)["channel"] == "web"


def test_unresolvable_writer_schema_is_a_clear_error() -> None:
    incompatible = {"type": "record", "name": "Order", "namespace": "slither.test",
                    "fields": [{"name": "id", "type": "int"}]}
    body = AvroSerde(ORDER_SCHEMA, framing=False).encode(sample_order())
    serde = AvroSerde(incompatible, framing=False, writer_schema=ORDER_SCHEMA)
    with pytest.raises(SerializationError, match=r"read as slither\.test\.Order is not compat"):
        serde.decode(body)


@pytest.mark.parametrize(("mutate", "match"), [
    (lambda d: b"\x01" + d[1:], "wrong magic byte 0x01"),
    (lambda d: d[:3], "3 bytes is too short for a Confluent frame"),
    (lambda d: d[:1] + struct.pack(">I", 42) + d[5:], "unknown schema id 42 \\(known ids: "),
    (lambda d: d + b"\x00\x00", "2 bytes left after the Avro value"),
    (lambda d: d[:-1], "truncated data"),
])
def test_bad_framed_bytes(registry: SchemaRegistry, mutate: Any, match: str) -> None:
    serde = AvroSerde(registry.get("Transaction"), registry=registry)
    with pytest.raises(SerializationError, match=match) as caught:
        serde.decode(mutate(serde.encode(TXN)))
    assert caught.value.serde == "avro:slither.examples.Transaction"
    assert caught.value.operation == "decode"


def test_json_bytes_on_an_avro_topic_are_refused(registry: SchemaRegistry) -> None:
    with pytest.raises(SerializationError, match="wrong magic byte 0x7b"):
        AvroSerde(registry.get("Transaction")).decode(b'{"id": "t1"}')


def test_encode_validates_instead_of_coercing(registry: SchemaRegistry) -> None:
    """fastavro alone writes 1.5 into an int as 1; we refuse and name the field."""
    serde = AvroSerde(registry.get("Transaction"))
    for field, bad in [("hour", 1.5), ("hour", True), ("hour", 2**40), ("amount", "12.5")]:
        with pytest.raises(SerializationError) as caught:
            serde.encode(dict(TXN, **{field: bad}))
        assert caught.value.field == field
        assert caught.value.operation == "encode"
        assert f"field '{field}'" in str(caught.value)


def test_validation_can_be_turned_off(registry: SchemaRegistry) -> None:
    serde = AvroSerde(registry.get("Transaction"), validate=False)
    assert serde.decode(serde.encode(dict(TXN, hour=1.5)))["hour"] == 1


def test_strict_refuses_undeclared_fields(registry: SchemaRegistry) -> None:
    extra = dict(TXN, color="red")
    assert AvroSerde(registry.get("Transaction")).encode(extra)  # ignored by default
    with pytest.raises(SerializationError) as caught:
        AvroSerde(registry.get("Transaction"), strict=True).encode(extra)
    assert caught.value.field == "color"
    assert "no such field" in caught.value.reason


def test_schema_given_as_json_text() -> None:
    text = '{"type": "record", "name": "P", "fields": [{"name": "x", "type": "long"}]}'
    serde = AvroSerde(text, framing=False)
    assert serde.decode(serde.encode({"x": -5})) == {"x": -5}


def test_same_schema_object_gives_same_id_everywhere(order_schema: AvroSchema) -> None:
    again = AvroSchema.parse(copy.deepcopy(ORDER_SCHEMA))
    assert again.schema_id == order_schema.schema_id
    with_doc = copy.deepcopy(ORDER_SCHEMA)
    with_doc["doc"] = "docs do not change the binary layout"
    assert AvroSchema.parse(with_doc).schema_id == order_schema.schema_id
    changed = copy.deepcopy(ORDER_SCHEMA)
    changed["fields"][1]["type"] = "long"
    assert AvroSchema.parse(changed).schema_id != order_schema.schema_id
