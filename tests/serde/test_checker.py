"""The compiled validity check agrees with fastavro's own validator."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import numpy as np
import pytest
from fastavro.validation import validate
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from slither_stream.serde import AvroSchema, find_mismatch
from slither_stream.serde.checker import compile_check
from tests.serde.conftest import ORDER_SCHEMA
from tests.serde.orders import orders, sample_order

ORDER = AvroSchema.parse(ORDER_SCHEMA)
ORDER_CHECK = compile_check(ORDER.parsed, ORDER.named)

ANYTHING = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(),
    st.text(max_size=5), st.binary(max_size=6), st.sampled_from(["NEW", "LOST", "PAID"]),
    st.lists(st.integers(-3, 3), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(-3, 3), max_size=2),
    st.tuples(st.sampled_from(["string", "slither.test.Line", "null", "int"]),
              st.text(max_size=3)),
    st.decimals(allow_nan=False, allow_infinity=False, places=2, max_value=10**9,
                min_value=-(10**9)),
    st.dates(), st.datetimes(timezones=st.just(dt.UTC)),
    st.builds(np.int64, st.integers(-(2**63), 2**63 - 1)),
    st.builds(np.float32, st.floats(width=32)),
    st.builds(bytearray, st.binary(max_size=3)),
)


def fastavro_says(value: Any, schema: AvroSchema) -> bool:
    try:
        return bool(validate(value, schema.parsed, raise_errors=False))
    except Exception:  # fastavro raises on some junk (bad tuple notation, decimals)
        return False


def _slots(value: Any) -> list[tuple[Any, Any]]:
    """Every (container, key) pair inside a value, depth first."""
    found: list[tuple[Any, Any]] = []
    if isinstance(value, dict):
        for key, item in value.items():
            found.append((value, key))
            found.extend(_slots(item))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found.append((value, index))
            found.extend(_slots(item))
    return found


def test_agrees_on_the_sample() -> None:
    assert ORDER_CHECK(sample_order()) is True
    assert fastavro_says(sample_order(), ORDER) is True


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=orders())
def test_valid_orders_pass(value: dict[str, Any]) -> None:
    assert ORDER_CHECK(value) is True


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=orders(), data=st.data())
def test_agrees_on_mutated_orders(value: dict[str, Any], data: st.DataObject) -> None:
    slots = _slots(value)
    container, key = data.draw(st.sampled_from(slots))
    if isinstance(container, dict) and data.draw(st.booleans()):
        del container[key]
    else:
        container[key] = data.draw(ANYTHING)
    assert ORDER_CHECK(value) == fastavro_says(value, ORDER)


SMALL_SCHEMAS = [
    "int", "long", "float", "double", "boolean", "string", "bytes", "null",
    ["null", "string"], ["int", "string", "null"],
    {"type": "array", "items": "long"}, {"type": "map", "values": ["null", "double"]},
    {"type": "enum", "name": "E", "symbols": ["NEW", "PAID"]},
    {"type": "fixed", "name": "F", "size": 2},
    {"type": "long", "logicalType": "timestamp-millis"},
    {"type": "int", "logicalType": "date"},
    {"type": "string", "logicalType": "uuid"},
    {"type": "bytes", "logicalType": "decimal", "precision": 12, "scale": 2},
]


@pytest.mark.parametrize("raw", SMALL_SCHEMAS, ids=str)
@settings(max_examples=60, deadline=None)
@given(value=ANYTHING)
def test_agrees_on_any_value_for_small_schemas(raw: Any, value: Any) -> None:
    schema = AvroSchema.parse(raw)
    valid = compile_check(schema.parsed, schema.named)(value)
    assert valid == fastavro_says(value, schema)
    assert valid == (find_mismatch(schema.parsed, schema.named, value) is None)


def test_recursive_types() -> None:
    schema = AvroSchema.parse({"type": "record", "name": "Node", "fields": [
        {"name": "v", "type": "int"}, {"name": "next", "type": ["null", "Node"]}]})
    check = compile_check(schema.parsed, schema.named)
    good = {"v": 1, "next": {"v": 2, "next": {"v": 3, "next": None}}}
    bad = {"v": 1, "next": {"v": 2, "next": {"v": "three", "next": None}}}
    assert check(good) is True and fastavro_says(good, schema) is True
    assert check(bad) is False and fastavro_says(bad, schema) is False


def test_decimal_scale_overflow_is_invalid_like_fastavro() -> None:
    schema = AvroSchema.parse(SMALL_SCHEMAS[-1])
    for value, valid in [(Decimal("1.234"), False), (Decimal("1.23"), True)]:
        assert compile_check(schema.parsed, schema.named)(value) is valid
        assert fastavro_says(value, schema) is valid


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=orders(), data=st.data())
def test_every_rejection_is_explained_by_a_field_path(value: dict[str, Any],
                                                       data: st.DataObject) -> None:
    """The compiled check and the mismatch walker agree, so errors always name a field."""
    container, key = data.draw(st.sampled_from(_slots(value)))
    container[key] = data.draw(ANYTHING)
    found = find_mismatch(ORDER.parsed, ORDER.named, value)
    assert ORDER_CHECK(value) == (found is None)
    if found is not None:
        assert found.path  # never blamed on the whole record: the mutated slot is inside


def test_tagged_union_values() -> None:
    tagged = dict(sample_order(), gift=("slither.test.Line", {"sku": "x", "price": 1.0}))
    assert ORDER_CHECK(tagged) is True
    bad = dict(sample_order(), gift=("slither.test.Line", {"sku": 5, "price": 1.0}))
    assert ORDER_CHECK(bad) is False
    found = find_mismatch(ORDER.parsed, ORDER.named, bad)
    assert found is not None and found.path == "gift.sku"
    unknown = dict(sample_order(), gift=("Nope", {}))
    found = find_mismatch(ORDER.parsed, ORDER.named, unknown)
    assert found is not None and found.expected.startswith("a (type name, value) pair")
