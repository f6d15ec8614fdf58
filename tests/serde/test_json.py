"""JsonSerde: round trips, and decode errors that say what was wrong."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from slither_stream.errors import SerializationError
from slither_stream.serde import JsonSerde


@pytest.mark.parametrize("value", [
    {"id": "t1", "amount": 12.5, "tags": ["a", "b"], "nested": {"ok": True, "n": None}},
    [1, -2, 3.25, "x", None, False],
    "plain string",
    0,
    2**63 - 1,
    None,
])
def test_round_trip(value: Any) -> None:
    serde = JsonSerde()
    assert serde.decode(serde.encode(value)) == value


def test_sort_keys_makes_bytes_stable() -> None:
    serde = JsonSerde(sort_keys=True)
    assert serde.encode({"b": 1, "a": 2}) == serde.encode({"a": 2, "b": 1}) == b'{"a":2,"b":1}'


def test_numpy_values_are_written_as_json_numbers() -> None:
    serde = JsonSerde()
    encoded = serde.encode({"score": np.float32(0.5), "v": np.array([1, 2])})
    assert serde.decode(encoded) == {"score": 0.5, "v": [1, 2]}


def test_non_str_keys_only_when_asked() -> None:
    with pytest.raises(SerializationError, match="Dict key must be str"):
        JsonSerde().encode({1: "a"})
    assert JsonSerde(non_str_keys=True).encode({1: "a"}) == b'{"1":"a"}'


def test_default_hook_converts_unknown_objects() -> None:
    serde = JsonSerde(default=lambda obj: sorted(obj) if isinstance(obj, set) else None)
    assert serde.decode(serde.encode({"s": {3, 1}})) == {"s": [1, 3]}


@pytest.mark.parametrize(("data", "reason"), [
    (b'{"a": "\xff"}', "invalid UTF-8"),
    (b'{"a": [1, 2', "truncated JSON"),
    (b"", "empty document"),
    (b'{"a": 1} tail', "trailing data"),
    (b"{'a': 1}", "invalid JSON"),
    (b"[" * 2000 + b"]" * 2000, "nested too deeply"),
])
def test_decode_errors_name_the_reason(data: bytes, reason: str) -> None:
    with pytest.raises(SerializationError) as caught:
        JsonSerde().decode(data)
    assert caught.value.reason.startswith(reason)
    assert caught.value.serde == "json"
    assert caught.value.operation == "decode"
    assert reason in str(caught.value)


def test_truncated_and_bad_utf8_are_told_apart() -> None:
    serde = JsonSerde()
    good = serde.encode({"name": "Zoë"})
    with pytest.raises(SerializationError, match="truncated JSON"):
        serde.decode(good[:-2])  # cut after the complete 'ë'
    broken = good.replace("ë".encode(), b"\xc3")  # first byte of a 2-byte sequence
    with pytest.raises(SerializationError, match="invalid UTF-8"):
        serde.decode(broken)


@pytest.mark.parametrize(("value", "reason"), [
    (2**64, "64-bit"),
    (object(), "not JSON serializable"),
])
def test_encode_errors_are_serialization_errors(value: Any, reason: str) -> None:
    with pytest.raises(SerializationError, match=reason) as caught:
        JsonSerde().encode({"v": value})
    assert caught.value.operation == "encode"
    assert str(caught.value).startswith("cannot json encode value")


def test_decoding_a_non_bytes_object_is_a_serialization_error() -> None:
    with pytest.raises(SerializationError, match="expected bytes, got int"):
        JsonSerde().decode(5)  # type: ignore[arg-type]
