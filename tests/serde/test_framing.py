"""Confluent wire framing on its own, including arbitrary input."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from slither_stream.errors import ConfigError, SerializationError
from slither_stream.serde import MAGIC_BYTE, frame, unframe
from slither_stream.serde.framing import MAX_SCHEMA_ID


def test_layout_is_magic_byte_then_big_endian_id() -> None:
    assert frame(258, b"body") == b"\x00\x00\x00\x01\x02body"


@pytest.mark.parametrize("bad_id", [-1, MAX_SCHEMA_ID + 1, 2**32])
def test_ids_outside_the_signed_32_bit_range_are_refused(bad_id: int) -> None:
    with pytest.raises(ConfigError, match=f"schema id {bad_id} is outside"):
        frame(bad_id, b"")


@given(schema_id=st.integers(0, MAX_SCHEMA_ID), body=st.binary(max_size=64))
def test_frame_then_unframe_round_trips(schema_id: int, body: bytes) -> None:
    parsed_id, view = unframe(frame(schema_id, body))
    assert parsed_id == schema_id
    assert bytes(view) == body


@given(data=st.binary(max_size=32))
def test_unframe_of_arbitrary_bytes_parses_or_says_why(data: bytes) -> None:
    try:
        schema_id, body = unframe(data)
    except SerializationError as exc:
        if len(data) < 5:
            assert "too short for a Confluent frame" in exc.reason
        else:
            assert data[0] != MAGIC_BYTE
            assert f"wrong magic byte 0x{data[0]:02x}" in exc.reason
    else:
        assert len(data) >= 5
        assert data[0] == MAGIC_BYTE
        assert schema_id == struct.unpack(">I", data[1:5])[0]
        assert bytes(body) == data[5:]
