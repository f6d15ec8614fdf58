"""Fixtures for the serde tests: the project's schema registry and a rich test schema."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from slither_stream.serde import AvroSchema, SchemaRegistry

SCHEMAS_DIR = Path(__file__).resolve().parents[2] / "schemas"

# Exercises every Avro type the interop and property tests need: primitives, a nested
# record used twice (second use by name), enum, fixed, array, map, unions with null
# and with a named record, and logical types.
ORDER_SCHEMA: dict[str, Any] = {
    "type": "record",
    "name": "Order",
    "namespace": "slither.test",
    "fields": [
        {"name": "id", "type": "string"},
        {"name": "quantity", "type": "int"},
        {"name": "big", "type": "long"},
        {"name": "total", "type": "double"},
        {"name": "ratio", "type": "float"},
        {"name": "paid", "type": "boolean"},
        {"name": "blob", "type": "bytes"},
        {"name": "status", "type": {"type": "enum", "name": "Status",
                                    "symbols": ["NEW", "PAID", "SHIPPED"]}},
        {"name": "digest", "type": {"type": "fixed", "name": "Digest", "size": 4}},
        {"name": "lines", "type": {"type": "array", "items": {
            "type": "record", "name": "Line", "fields": [
                {"name": "sku", "type": "string"},
                {"name": "price", "type": "double"},
                {"name": "note", "type": ["null", "string"], "default": None},
            ]}}},
        {"name": "attrs", "type": {"type": "map", "values": "long"}},
        {"name": "gift", "type": ["null", "Line"], "default": None},
        {"name": "created", "type": {"type": "long", "logicalType": "timestamp-millis"}},
        {"name": "day", "type": {"type": "int", "logicalType": "date"}},
        {"name": "price", "type": {"type": "bytes", "logicalType": "decimal",
                                   "precision": 10, "scale": 2}},
    ],
}


@pytest.fixture(scope="session")
def registry() -> SchemaRegistry:
    """The project's schemas/ directory, loaded once."""
    return SchemaRegistry.load(SCHEMAS_DIR)


@pytest.fixture(scope="session")
def order_schema() -> AvroSchema:
    return AvroSchema.parse(ORDER_SCHEMA)
