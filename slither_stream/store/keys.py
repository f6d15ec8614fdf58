"""Key codecs: how table keys become RocksDB key bytes.

RocksDB orders keys by their bytes, so the codec decides what "ordered" means for an
``ordered_set`` table and what a prefix ``match`` can find.

The default codec, ``"tuple"``, is order-preserving (a simplified FoundationDB tuple
layer). Each scalar is one type tag byte followed by its body:

===========  ====  ===========================================================
type         tag   body
===========  ====  ===========================================================
``None``     0x01  (none)
``int``      0x04  8 bytes big-endian of ``n + 2**63`` (signed 64-bit range)
``float``    0x05  IEEE-754 big-endian; sign bit flipped for ``>= 0``, all bits
                   inverted for negatives (so bytes sort like the numbers)
``bytes``    0x06  the bytes with ``0x00`` escaped as ``0x00 0xFF``, then ``0x00``
``str``      0x07  UTF-8, escaped and terminated like ``bytes``
``tuple``    0x10  the concatenated encodings of its scalar elements
===========  ====  ===========================================================

Consequences users can rely on: keys of one type sort by their natural order
(strings by code point, numbers numerically, tuples element by element with a
shorter prefix first); keys of different types sort by the tag order above; ``1`` and
``1.0`` are different keys; ``bool``, NaN, nested tuples and ints outside 64 bits are
rejected with a clear error. A prefix ``match`` takes a ``str``/``bytes`` prefix (keys
of that type starting with it) or a tuple prefix (tuples whose first elements equal
it).

Other codecs: ``"string"`` (UTF-8, order-preserving), ``"bytes"`` (identity,
order-preserving) and ``"json"`` (any JSON value, canonical with sorted object keys;
``set`` tables only, since JSON bytes do not sort like the values).
"""

from __future__ import annotations

import math
import struct
from abc import ABC, abstractmethod
from typing import Any

import orjson

from slither_stream.errors import ConfigError

_NONE, _INT, _FLOAT, _BYTES, _STR, _TUPLE = 0x01, 0x04, 0x05, 0x06, 0x07, 0x10
_INT_BIAS = 1 << 63
_INT_MIN, _INT_MAX = -(1 << 63), (1 << 63) - 1
_SIGN = 1 << 63
_ALL = (1 << 64) - 1
_U64 = struct.Struct(">Q")
_F64 = struct.Struct(">d")


class KeyEncodingError(ValueError):
    """A key cannot be encoded or decoded; the table layer adds store/table names."""


class KeyCodec(ABC):
    """Turns table keys into RocksDB key bytes and back."""

    name: str
    order_preserving: bool

    @abstractmethod
    def encode(self, key: Any) -> bytes:
        """Key bytes; raises :class:`KeyEncodingError` for an unsupported key."""

    @abstractmethod
    def decode(self, data: bytes) -> Any:
        """The key that :meth:`encode` turned into ``data``."""

    @abstractmethod
    def prefix(self, prefix: Any) -> bytes:
        """Bytes that every encoded key "starting with" ``prefix`` begins with."""


_STR_TAG, _INT_TAG, _BYTES_TAG, _FLOAT_TAG = bytes([_STR]), bytes([_INT]), bytes([_BYTES]), \
    bytes([_FLOAT])
_NONE_BYTES, _TUPLE_TAG = bytes([_NONE]), bytes([_TUPLE])


def _escape(data: bytes) -> bytes:
    if b"\x00" in data:
        data = data.replace(b"\x00", b"\x00\xff")
    return data + b"\x00"


def _scalar(value: Any) -> bytes:
    """One scalar's tagged encoding (the hot path: str and int first)."""
    kind = type(value)
    if kind is str:
        return _STR_TAG + _escape(value.encode("utf-8"))
    if kind is int:
        if not _INT_MIN <= value <= _INT_MAX:
            raise KeyEncodingError(f"int key {value} is outside the signed 64-bit range")
        return _INT_TAG + _U64.pack(value + _INT_BIAS)
    if value is None:
        return _NONE_BYTES
    if kind is bytes:
        return _BYTES_TAG + _escape(value)
    if kind is float:
        if math.isnan(value):
            raise KeyEncodingError("NaN cannot be a key: it is not equal to itself")
        bits = _U64.unpack(_F64.pack(value))[0]
        bits = bits ^ _ALL if bits & _SIGN else bits | _SIGN
        return _FLOAT_TAG + _U64.pack(bits)
    if kind is bool:
        raise KeyEncodingError("bool keys are not supported (True would collide with 1)")
    if kind is tuple:
        raise KeyEncodingError("nested tuples are not supported in keys")
    raise KeyEncodingError(
        f"unsupported key type {kind.__name__}: keys must be str, bytes, int, float, "
        "None or a tuple of those"
    )


def _read_escaped(data: bytes, start: int) -> tuple[bytes, int]:
    """Unescape a terminated byte string beginning at ``start``; return it and the end."""
    parts = []
    pos = start
    while True:
        zero = data.find(b"\x00", pos)
        if zero < 0:
            raise KeyEncodingError(f"truncated key bytes {data!r}: missing terminator")
        parts.append(data[pos:zero])
        if zero + 1 < len(data) and data[zero + 1] == 0xFF:
            parts.append(b"\x00")
            pos = zero + 2
        else:
            return b"".join(parts), zero + 1


def _decode_scalar(data: bytes, pos: int) -> tuple[Any, int]:
    tag = data[pos]
    pos += 1
    if tag == _STR:
        raw, pos = _read_escaped(data, pos)
        return raw.decode("utf-8"), pos
    if tag == _INT:
        return _U64.unpack_from(data, pos)[0] - _INT_BIAS, pos + 8
    if tag == _NONE:
        return None, pos
    if tag == _BYTES:
        return _read_escaped(data, pos)
    if tag == _FLOAT:
        bits = _U64.unpack_from(data, pos)[0]
        bits = bits ^ _SIGN if bits & _SIGN else bits ^ _ALL
        return _F64.unpack(_U64.pack(bits))[0], pos + 8
    raise KeyEncodingError(f"unknown key type tag 0x{tag:02x} in {data!r}")


class TupleKeyCodec(KeyCodec):
    """The default, order-preserving codec described in the module docstring."""

    name = "tuple"
    order_preserving = True

    def encode(self, key: Any) -> bytes:
        if type(key) is not tuple:
            return _scalar(key)
        # Tuples of str and int are the common composite key: encode those inline.
        parts = [_TUPLE_TAG]
        for element in key:
            kind = type(element)
            if kind is str:
                data = element.encode("utf-8")
                if b"\x00" in data:
                    data = data.replace(b"\x00", b"\x00\xff")
                parts.append(_STR_TAG + data + b"\x00")
            elif kind is int and _INT_MIN <= element <= _INT_MAX:
                parts.append(_INT_TAG + _U64.pack(element + _INT_BIAS))
            else:
                parts.append(_scalar(element))
        return b"".join(parts)

    def decode(self, data: bytes) -> Any:
        try:
            if data[:1] == bytes([_TUPLE]):
                elements = []
                pos = 1
                while pos < len(data):
                    element, pos = _decode_scalar(data, pos)
                    elements.append(element)
                return tuple(elements)
            value, end = _decode_scalar(data, 0)
        except (IndexError, struct.error, UnicodeDecodeError) as error:
            raise KeyEncodingError(f"corrupt key bytes {data!r}: {error}") from None
        if end != len(data):
            raise KeyEncodingError(f"corrupt key bytes {data!r}: trailing data")
        return value

    def prefix(self, prefix: Any) -> bytes:
        if type(prefix) is str:
            return bytes([_STR]) + prefix.encode("utf-8").replace(b"\x00", b"\x00\xff")
        if type(prefix) is bytes:
            return bytes([_BYTES]) + prefix.replace(b"\x00", b"\x00\xff")
        if type(prefix) is tuple:
            return self.encode(prefix)
        raise KeyEncodingError(
            f"a match prefix must be str, bytes or tuple, not {type(prefix).__name__}"
        )


class StringKeyCodec(KeyCodec):
    """UTF-8 strings; sorts by code point."""

    name = "string"
    order_preserving = True

    def encode(self, key: Any) -> bytes:
        if type(key) is not str:
            raise KeyEncodingError(f"this table's keys are str, not {type(key).__name__}")
        return key.encode("utf-8")

    def decode(self, data: bytes) -> Any:
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as error:
            raise KeyEncodingError(f"key bytes {data!r} are not UTF-8: {error}") from None

    def prefix(self, prefix: Any) -> bytes:
        return self.encode(prefix)


class BytesKeyCodec(KeyCodec):
    """Raw bytes, stored as given."""

    name = "bytes"
    order_preserving = True

    def encode(self, key: Any) -> bytes:
        if type(key) is not bytes:
            raise KeyEncodingError(f"this table's keys are bytes, not {type(key).__name__}")
        return key

    def decode(self, data: bytes) -> Any:
        return data

    def prefix(self, prefix: Any) -> bytes:
        return self.encode(prefix)


class JsonKeyCodec(KeyCodec):
    """Any JSON value as a key (canonical: object keys sorted). Not order-preserving."""

    name = "json"
    order_preserving = False

    def encode(self, key: Any) -> bytes:
        try:
            return orjson.dumps(key, option=orjson.OPT_SORT_KEYS)
        except TypeError as error:
            raise KeyEncodingError(f"key {key!r} is not JSON-serializable: {error}") from None

    def decode(self, data: bytes) -> Any:
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError as error:
            raise KeyEncodingError(f"key bytes {data!r} are not JSON: {error}") from None

    def prefix(self, prefix: Any) -> bytes:
        if type(prefix) is not str:
            raise KeyEncodingError("a json-keyed table matches string prefixes only")
        return self.encode(prefix)[:-1]  # drop the closing quote


KEY_CODECS: dict[str, type[KeyCodec]] = {
    codec.name: codec
    for codec in (TupleKeyCodec, StringKeyCodec, BytesKeyCodec, JsonKeyCodec)
}


def key_codec_for(spec: str | KeyCodec) -> KeyCodec:
    """The codec named ``spec`` (or ``spec`` itself); ConfigError lists valid names."""
    if isinstance(spec, KeyCodec):
        return spec
    codec = KEY_CODECS.get(spec)
    if codec is None:
        raise ConfigError(
            f"unknown key codec {spec!r}; valid names: {', '.join(sorted(KEY_CODECS))}"
        )
    return codec()
