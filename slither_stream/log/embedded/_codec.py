"""Binary layout of the embedded log inside RocksDB.

Every key starts with one tag byte so the kinds of data sort apart and a whole kind
(or a whole topic) can be dropped with one range delete:

* ``r`` + topic id (u32) + partition (u32) + offset (u64) -> one record
* ``c`` + topic id (u32) + partition (u32) + group (utf-8) -> committed offset (u64)
* ``h`` + topic id (u32) + partition (u32) -> end offset at the last cleaning and
  records kept by it (u64, u64): the end offset survives a restart even when
  cleaning removed the newest records, and the cleaner's dirty count is exact again
* ``t`` + topic name (utf-8) -> topic metadata (JSON)
* ``m`` + name -> log-wide metadata (the next topic id)

Topics are keyed by a numeric id rather than their name: ids never repeat, so a
deleted and recreated topic can never see the records of its predecessor, and names
containing any character cannot make two key ranges overlap. All integers are
big-endian, so RocksDB's byte order is offset order.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from slither_stream.log.types import Headers

RECORD_TAG = b"r"
COMMIT_TAG = b"c"
HIGH_WATER_TAG = b"h"
TOPIC_TAG = b"t"
META_TAG = b"m"
NEXT_TOPIC_ID_KEY = META_TAG + b"next_topic_id"

MAX_OFFSET = (1 << 64) - 1

_PARTITION = struct.Struct(">cII")
RECORD_KEY = struct.Struct(">cIIQ")
U64 = struct.Struct(">Q")
# timestamp, key length, value length (-1 encodes None), header count
RECORD_HEAD = struct.Struct(">qiiH")
_HEADER_HEAD = struct.Struct(">HI")

_record_key_pack = RECORD_KEY.pack
_record_key_unpack = RECORD_KEY.unpack
_head_pack = RECORD_HEAD.pack
_head_unpack_from = RECORD_HEAD.unpack_from


def record_key(topic_id: int, partition: int, offset: int) -> bytes:
    """Key of the record at ``offset``."""
    return _record_key_pack(RECORD_TAG, topic_id, partition, offset)


def record_offset(key: bytes) -> int:
    """Offset encoded in a record key."""
    return int(_record_key_unpack(key)[3])


def partition_prefix(tag: bytes, topic_id: int, partition: int) -> bytes:
    """Prefix shared by every key of ``tag`` kind in one partition."""
    return _PARTITION.pack(tag, topic_id, partition)


def topic_range(tag: bytes, topic_id: int) -> tuple[bytes, bytes]:
    """``[begin, end)`` covering every key of ``tag`` kind for one topic."""
    return (_PARTITION.pack(tag, topic_id, 0), _PARTITION.pack(tag, topic_id + 1, 0))


def commit_key(topic_id: int, partition: int, group: str) -> bytes:
    """Key of ``group``'s committed offset on one partition."""
    return _PARTITION.pack(COMMIT_TAG, topic_id, partition) + group.encode("utf-8")


def high_water_key(topic_id: int, partition: int) -> bytes:
    """Key of the end offset remembered at the last cleaning of a partition."""
    return _PARTITION.pack(HIGH_WATER_TAG, topic_id, partition)


def topic_key(name: str) -> bytes:
    """Key of a topic's metadata."""
    return TOPIC_TAG + name.encode("utf-8")


_HIGH_WATER = struct.Struct(">QQ")


def pack_high_water(end: int, kept: int) -> bytes:
    """Marker value: end offset at a cleaning and how many records it kept."""
    return _HIGH_WATER.pack(end, kept)


def unpack_high_water(data: bytes) -> tuple[int, int | None]:
    """``(end, kept)``; ``kept`` is None in the older 8-byte form (end only)."""
    if len(data) == U64.size:
        return int(U64.unpack(data)[0]), None
    end, kept = _HIGH_WATER.unpack(data)
    return int(end), int(kept)


def pack_u64(value: int) -> bytes:
    return U64.pack(value)


def unpack_u64(data: bytes) -> int:
    return int(U64.unpack(data)[0])


def encode_record(
    key: bytes | None, value: bytes | None, headers: Headers, timestamp_ms: int
) -> bytes:
    """Encode the stored part of a record (everything but its position)."""
    head = _head_pack(
        timestamp_ms,
        -1 if key is None else len(key),
        -1 if value is None else len(value),
        len(headers),
    )
    if not headers:
        return b"".join((head, key or b"", value or b""))
    parts = [head, key or b"", value or b""]
    for name, data in headers:
        raw_name = name.encode("utf-8")
        parts.append(_HEADER_HEAD.pack(len(raw_name), len(data)))
        parts.append(raw_name)
        parts.append(data)
    return b"".join(parts)


@dataclass(frozen=True, slots=True)
class DecodedRecord:
    """The stored fields of one record."""

    key: bytes | None
    value: bytes | None
    headers: Headers
    timestamp_ms: int


def decode_record(blob: bytes) -> DecodedRecord:
    """Inverse of :func:`encode_record`."""
    timestamp, key_len, value_len, header_count = _head_unpack_from(blob)
    pos = RECORD_HEAD.size
    key: bytes | None = None
    if key_len >= 0:
        key = blob[pos:pos + key_len]
        pos += key_len
    value: bytes | None = None
    if value_len >= 0:
        value = blob[pos:pos + value_len]
        pos += value_len
    headers: Headers = ()
    if header_count:
        items = []
        for _ in range(header_count):
            name_len, data_len = _HEADER_HEAD.unpack_from(blob, pos)
            pos += _HEADER_HEAD.size
            name = blob[pos:pos + name_len].decode("utf-8")
            pos += name_len
            items.append((name, blob[pos:pos + data_len]))
            pos += data_len
        headers = tuple(items)
    return DecodedRecord(key, value, headers, timestamp)


def decode_for_cleaning(blob: bytes) -> tuple[bytes | None, bool, int]:
    """``(key, is_tombstone, timestamp_ms)`` without decoding value or headers."""
    timestamp, key_len, value_len, _ = _head_unpack_from(blob)
    pos = RECORD_HEAD.size
    key = blob[pos:pos + key_len] if key_len >= 0 else None
    return key, value_len < 0, timestamp
