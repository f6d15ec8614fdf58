"""The trivial serdes: raw bytes passthrough and UTF-8 strings.

They still check their input, so a stage declared ``raw`` that is handed a ``dict``
fails with a SerializationError naming the type instead of a confusing TypeError deep
in a producer.
"""

from __future__ import annotations

from typing import Any

from slither_stream.errors import SerializationError
from slither_stream.serde.base import describe_value


class RawSerde:
    """Bytes in, the same bytes out; ``bytearray``/``memoryview`` are copied to bytes."""

    name = "raw"

    def encode(self, value: Any) -> bytes:
        if type(value) is bytes:
            return value
        if isinstance(value, bytes | bytearray | memoryview):
            return bytes(value)
        raise SerializationError(
            f"expected bytes, got {describe_value(value)}", serde=self.name, operation="encode"
        )

    def decode(self, data: bytes) -> bytes:
        if type(data) is bytes:
            return data
        if isinstance(data, bytes | bytearray | memoryview):
            return bytes(data)
        raise SerializationError(f"expected bytes, got {type(data).__name__}", serde=self.name)

    def __repr__(self) -> str:
        return "RawSerde()"


class StringSerde:
    """``str`` <-> UTF-8 bytes; invalid UTF-8 is an error naming the byte position."""

    name = "string"

    def encode(self, value: Any) -> bytes:
        if not isinstance(value, str):
            raise SerializationError(
                f"expected str, got {describe_value(value)}", serde=self.name, operation="encode"
            )
        try:
            return value.encode("utf-8")
        except UnicodeEncodeError as exc:  # lone surrogates
            raise SerializationError(
                f"not encodable as UTF-8 at character {exc.start}: {exc.reason}",
                serde=self.name,
                operation="encode",
            ) from exc

    def decode(self, data: bytes) -> str:
        try:
            return str(data, "utf-8")
        except UnicodeDecodeError as exc:
            raise SerializationError(
                f"invalid UTF-8 at byte {exc.start}: {exc.reason}", serde=self.name
            ) from exc
        except TypeError as exc:
            raise SerializationError(
                f"expected bytes, got {type(data).__name__}", serde=self.name
            ) from exc

    def __repr__(self) -> str:
        return "StringSerde()"
