"""RawSerde and StringSerde."""

from __future__ import annotations

import pytest

from slither_stream.errors import SerializationError
from slither_stream.serde import RawSerde, StringSerde


def test_raw_passes_bytes_through_unchanged() -> None:
    serde = RawSerde()
    data = b"\x00\x01binary"
    assert serde.encode(data) is data
    assert serde.decode(data) is data
    assert serde.encode(bytearray(b"ab")) == b"ab"
    assert serde.encode(memoryview(b"cd")) == b"cd"
    assert type(serde.decode(memoryview(b"ef"))) is bytes  # type: ignore[arg-type]


def test_raw_refuses_non_bytes_naming_the_type() -> None:
    with pytest.raises(SerializationError, match="expected bytes, got dict") as caught:
        RawSerde().encode({"a": 1})
    assert caught.value.operation == "encode"
    with pytest.raises(SerializationError, match="expected bytes, got str"):
        RawSerde().decode("text")  # type: ignore[arg-type]


def test_string_round_trip() -> None:
    serde = StringSerde()
    assert serde.encode("Zoë ✓") == "Zoë ✓".encode()
    assert serde.decode(serde.encode("Zoë ✓")) == "Zoë ✓"


def test_string_decode_names_the_bad_byte() -> None:
    with pytest.raises(SerializationError, match="invalid UTF-8 at byte 3") as caught:
        StringSerde().decode(b"abc\xffdef")
    assert caught.value.serde == "string"


def test_string_encode_refuses_non_str_and_lone_surrogates() -> None:
    with pytest.raises(SerializationError, match="expected str, got bytes"):
        StringSerde().encode(b"x")
    with pytest.raises(SerializationError, match="not encodable as UTF-8 at character 1"):
        StringSerde().encode("a\ud800b")
