"""Property tests: round trips for any value, and no crash but SerializationError on junk."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from slither_stream.errors import SerializationError
from slither_stream.serde import (
    AvroSchema,
    AvroSerde,
    JsonSerde,
    RawSerde,
    SchemaRegistry,
    Serde,
    StringSerde,
    frame,
)
from tests.serde.conftest import ORDER_SCHEMA, SCHEMAS_DIR

JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: st.lists(children, max_size=5)
    | st.dictionaries(st.text(max_size=10), children, max_size=5),
    max_leaves=30,
)

REGISTRY = SchemaRegistry.load(SCHEMAS_DIR)
ORDER = AvroSchema.parse(ORDER_SCHEMA)
SERDES: dict[str, Serde[Any]] = {
    "json": JsonSerde(),
    "string": StringSerde(),
    "raw": RawSerde(),
    "avro-framed-transaction": AvroSerde(REGISTRY.get("Transaction"), registry=REGISTRY),
    "avro-bare-transaction": AvroSerde(REGISTRY.get("Transaction"), framing=False),
    "avro-bare-order": AvroSerde(ORDER, framing=False),
    "avro-framed-envelope": AvroSerde(REGISTRY.get("Envelope"), registry=REGISTRY),
}


@given(value=JSON_VALUES)
def test_any_json_value_round_trips(value: Any) -> None:
    serde = JsonSerde()
    assert serde.decode(serde.encode(value)) == value


@given(text=st.text())
def test_any_text_round_trips_as_string(text: str) -> None:
    serde = StringSerde()
    assert serde.decode(serde.encode(text)) == text


@pytest.mark.parametrize("name", sorted(SERDES))
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.binary(max_size=64))
def test_random_bytes_never_raise_anything_else(name: str, data: bytes) -> None:
    serde = SERDES[name]
    try:
        serde.decode(data)
    except SerializationError as exc:
        assert exc.serde == serde.name
        assert exc.reason


@settings(max_examples=300, deadline=None)
@given(body=st.binary(max_size=64))
def test_random_body_behind_a_valid_header(body: bytes) -> None:
    """Framing accepted, then junk: still only SerializationError."""
    schema = REGISTRY.get("Transaction")
    serde = AvroSerde(schema)
    try:
        value = serde.decode(frame(schema.schema_id, body))
    except SerializationError:
        return
    # whatever decoded is a valid Transaction that re-encodes to a value that decodes equal
    assert serde.decode(serde.encode(value)) == value
