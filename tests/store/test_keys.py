"""Key codecs: round trips, order preservation, prefixes and clear rejections."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from slither_stream.errors import ConfigError
from slither_stream.store.keys import (
    JsonKeyCodec,
    KeyEncodingError,
    StringKeyCodec,
    TupleKeyCodec,
    key_codec_for,
)

codec = TupleKeyCodec()
int64 = st.integers(min_value=-(1 << 63), max_value=(1 << 63) - 1)
finite = st.floats(allow_nan=False)
scalars = st.one_of(st.none(), int64, finite, st.binary(), st.text())


@given(st.one_of(scalars, st.tuples(scalars, scalars), st.tuples(scalars, scalars, scalars)))
def test_tuple_codec_round_trips(key: Any) -> None:
    decoded = codec.decode(codec.encode(key))
    assert decoded == key or (isinstance(key, float) and math.copysign(1, key)
                              == math.copysign(1, decoded))
    assert type(decoded) is type(key)


@pytest.mark.parametrize("values", [
    st.lists(int64, min_size=2),
    st.lists(finite, min_size=2),
    st.lists(st.text(), min_size=2),
    st.lists(st.binary(), min_size=2),
    st.lists(st.tuples(st.text(), int64), min_size=2),
    st.lists(st.tuples(st.text(), st.text()), min_size=2),
    st.lists(st.one_of(st.tuples(st.text()), st.tuples(st.text(), int64)), min_size=2),
])
def test_byte_order_matches_python_order(values: st.SearchStrategy[list[Any]]) -> None:
    @given(values)
    def check(keys: list[Any]) -> None:
        by_bytes = sorted(keys, key=codec.encode)
        by_value = sorted(keys)
        # Equal floats (0.0 / -0.0) may differ in encoding; compare as values.
        assert by_bytes == by_value

    check()


def test_types_sort_by_documented_tag_order() -> None:
    keys = [("a",), "a", b"a", 1.5, 7, None]
    assert sorted(keys, key=codec.encode) == [None, 7, 1.5, b"a", "a", ("a",)]


@pytest.mark.parametrize(("key", "reason"), [
    (True, "bool"),
    (float("nan"), "NaN"),
    (1 << 64, "64-bit"),
    (("a", ("b",)), "nested"),
    ({"a": 1}, "unsupported key type dict"),
    ([1, 2], "unsupported key type list"),
])
def test_tuple_codec_rejects_bad_keys(key: Any, reason: str) -> None:
    with pytest.raises(KeyEncodingError, match=reason):
        codec.encode(key)


def test_prefix_selects_strings_and_tuple_heads() -> None:
    keys = ["user_1", "user_2", "users", "use", ("user", 1), ("user", 2), ("users", 1)]
    encoded = {key: codec.encode(key) for key in keys}
    str_prefix = codec.prefix("user_")
    assert [k for k in keys if encoded[k].startswith(str_prefix)] == ["user_1", "user_2"]
    tuple_prefix = codec.prefix(("user",))
    assert [k for k in keys if encoded[k].startswith(tuple_prefix)] == [("user", 1), ("user", 2)]
    with pytest.raises(KeyEncodingError, match="prefix must be"):
        codec.prefix(5)


def test_embedded_zero_bytes_keep_order_and_round_trip() -> None:
    keys = ["a", "a\x00", "a\x00b", "a\x01", ("a\x00", 1), ("a", 1)]
    for key in keys:
        assert codec.decode(codec.encode(key)) == key
    strings = [k for k in keys if isinstance(k, str)]
    assert sorted(strings, key=codec.encode) == sorted(strings)


def test_other_codecs() -> None:
    assert StringKeyCodec().decode(StringKeyCodec().encode("é")) == "é"
    with pytest.raises(KeyEncodingError, match="keys are str, not int"):
        StringKeyCodec().encode(1)
    json = JsonKeyCodec()
    assert json.encode({"b": 1, "a": 2}) == json.encode({"a": 2, "b": 1})
    assert json.encode("ab").startswith(json.prefix("a"))
    with pytest.raises(ConfigError, match="valid names: bytes, json, string, tuple"):
        key_codec_for("nope")
