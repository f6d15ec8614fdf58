"""A record written with an incompatible schema: the decode error names the field."""

from __future__ import annotations

from typing import Any

import pytest

from slither_stream.errors import SerializationError
from slither_stream.serde import AvroSchema, AvroSerde, SchemaRegistry
from slither_stream.serde.resolution import resolution_problem


def _order(price: Any, *, extra: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    line = {"type": "record", "name": "Line",
            "fields": [{"name": "sku", "type": "string"}, {"name": "price", "type": price}]}
    return {"type": "record", "name": "Order", "namespace": "t",
            "fields": [{"name": "id", "type": "long"},
                       {"name": "lines", "type": {"type": "array", "items": line}},
                       *(extra or [])]}


def _problem(writer: dict[str, Any], reader: dict[str, Any]) -> Any:
    return resolution_problem(AvroSchema.parse(writer), AvroSchema.parse(reader))


def test_changed_type_inside_an_array_names_its_path() -> None:
    assert _problem(_order("string"), _order("double")) == (
        "lines[].price", "writer type string cannot be read as double")


def test_promotions_and_defaults_resolve() -> None:
    assert _problem(_order("int"), _order("double")) is None
    added = {"name": "note", "type": "string", "default": ""}
    assert _problem(_order("double"), _order("double", extra=[added])) is None
    assert _problem(_order("double"), _order(["null", "double"])) is None


def test_missing_field_without_default_is_named() -> None:
    required = {"name": "currency", "type": "string"}
    assert _problem(_order("double"), _order("double", extra=[required])) == (
        "currency", "missing from the writer schema and has no default")


def test_enum_symbol_unknown_to_the_reader() -> None:
    def enum(*symbols: str) -> dict[str, Any]:
        return {"type": "record", "name": "R", "fields": [
            {"name": "color", "type": {"type": "enum", "name": "C", "symbols": list(symbols)}}]}
    assert _problem(enum("R", "G"), enum("R")) == (
        "color", "writer symbol 'G' is not in enum C")


def test_decode_error_carries_the_field() -> None:
    """An old version on the topic (same name, id known to the registry)."""
    registry = SchemaRegistry()
    old = registry.register(_order("string"), current=False)
    reader = AvroSerde(registry.register(_order("double")), registry=registry)
    data = AvroSerde(old).encode({"id": 1, "lines": [{"sku": "a", "price": "9.5"}]})
    with pytest.raises(SerializationError) as caught:
        reader.decode(data)
    assert caught.value.field == "lines[].price"
    assert "field 'lines[].price': writer type string cannot be read as double" in str(
        caught.value)
