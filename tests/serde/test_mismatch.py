"""Encoding errors name the path of the field that does not match the Avro schema."""

from __future__ import annotations

from typing import Any

import pytest

from slither_stream.errors import SerializationError
from slither_stream.serde import AvroSchema, AvroSerde, find_mismatch
from tests.serde.orders import sample_order


def _with(path: list[Any], value: Any) -> dict[str, Any]:
    order = sample_order()
    target: Any = order
    for step in path[:-1]:
        target = target[step]
    if value is KeyError:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return order


@pytest.mark.parametrize(("path", "bad", "field", "expected"), [
    (["quantity"], "3", "quantity", "expected int, got str '3'"),
    (["lines", 1, "price"], "free", "lines[1].price", "expected double"),
    (["lines", 0, "sku"], KeyError, "lines[0].sku", "missing, no default"),
    (["attrs", "weight"], 1.5, "attrs['weight']", "expected long"),
    (["status"], "LOST", "status", "enum slither.test.Status symbol (NEW, PAID, SHIPPED)"),
    (["digest"], b"\x01", "digest", "fixed slither.test.Digest of 4 bytes"),
    (["gift", "price"], None, "gift.price", "expected double, got NoneType None"),
    (["lines"], {"sku": "x"}, "lines", "expected array of record slither.test.Line"),
    (["created"], "yesterday", "created", "timestamp-millis (long)"),
    (["id"], KeyError, "id", "missing, no default"),
])
def test_field_path_is_named(order_schema: AvroSchema, path: list[Any], bad: Any, field: str,
                             expected: str) -> None:
    serde = AvroSerde(order_schema)
    with pytest.raises(SerializationError) as caught:
        serde.encode(_with(path, bad))
    error = caught.value
    assert error.field == field
    assert expected in error.reason
    assert str(error).startswith(
        f"cannot avro:slither.test.Order encode value: field '{field}': expected")


def test_union_of_incompatible_branches_lists_them(order_schema: AvroSchema) -> None:
    found = find_mismatch(order_schema.parsed, order_schema.named,
                          _with(["lines", 0, "note"], 5))
    assert found is not None
    assert found.path == "lines[0].note"
    assert found.expected == "one of [null, string]"


def test_non_string_map_key(order_schema: AvroSchema) -> None:
    found = find_mismatch(order_schema.parsed, order_schema.named, _with(["attrs", 7], 1))
    assert found is not None
    assert (found.path, found.expected) == ("attrs[7]", "a string map key")


def test_top_level_value_of_wrong_shape(order_schema: AvroSchema) -> None:
    with pytest.raises(SerializationError, match=r"value: expected record slither\.test\.Order"):
        AvroSerde(order_schema).encode(["not", "a", "record"])


def test_valid_value_has_no_mismatch(order_schema: AvroSchema) -> None:
    assert find_mismatch(order_schema.parsed, order_schema.named, sample_order()) is None
