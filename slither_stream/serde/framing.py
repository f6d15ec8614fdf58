"""Confluent wire framing: magic byte 0, a 4-byte big-endian schema id, then the body.

This is the layout Confluent's serializers (and every tool that talks to a Confluent
Schema Registry) put in front of an Avro body, so records framed here carry the id of
the schema they were written with and stay readable after the schema evolves.
"""

from __future__ import annotations

import struct

from slither_stream.errors import ConfigError, SerializationError

MAGIC_BYTE = 0
"""The first byte of a Confluent-framed value (then a 4-byte big-endian schema id)."""
HEADER_SIZE = 5
MAX_SCHEMA_ID = 2**31 - 1  # Confluent ids are positive signed 32-bit integers

_HEADER = struct.Struct(">bI")


def check_schema_id(schema_id: int) -> int:
    """``schema_id`` if it fits the frame; ConfigError otherwise."""
    if isinstance(schema_id, bool) or not isinstance(schema_id, int):
        raise ConfigError(f"schema id must be an int, got {type(schema_id).__name__}")
    if not 0 <= schema_id <= MAX_SCHEMA_ID:
        raise ConfigError(f"schema id {schema_id} is outside 0..{MAX_SCHEMA_ID}")
    return schema_id


def frame_header(schema_id: int) -> bytes:
    """The 5 bytes that precede a body written with schema ``schema_id``."""
    return _HEADER.pack(MAGIC_BYTE, check_schema_id(schema_id))


def frame(schema_id: int, body: bytes) -> bytes:
    """``body`` framed with ``schema_id``."""
    return frame_header(schema_id) + body


def parse_header(data: bytes) -> int:
    """The schema id in a framed record's header; the body starts at ``HEADER_SIZE``.

    Raises SerializationError when ``data`` is too short for a header or does not
    start with the magic byte (typically: the topic holds unframed Avro or JSON).
    """
    if len(data) < HEADER_SIZE:
        raise SerializationError(
            f"{len(data)} bytes is too short for a Confluent frame "
            f"(magic byte + 4-byte schema id)"
        )
    magic, schema_id = _HEADER.unpack_from(data)
    if magic != MAGIC_BYTE:
        raise SerializationError(
            f"wrong magic byte 0x{magic & 0xFF:02x} (expected 0x00): "
            f"not Confluent-framed data"
        )
    return int(schema_id)


def unframe(data: bytes) -> tuple[int, memoryview]:
    """Split framed ``data`` into its schema id and a zero-copy view of the body."""
    schema_id = parse_header(data)
    return schema_id, memoryview(data)[HEADER_SIZE:]
