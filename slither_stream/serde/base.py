"""The serde seam: how values become record bytes and back.

Every serde has a ``name`` (used in error messages and config), ``encode(value) ->
bytes`` and ``decode(bytes) -> value``. The contract every implementation keeps:

- ``decode`` never raises anything but :class:`SerializationError` for bad input, so a
  stage can route an undecodable record to its dead-letter topic with one ``except``.
- ``encode`` raises :class:`SerializationError` (``operation="encode"``) for a value it
  cannot represent, naming the field when a schema can tell.
- Both are pure and thread-safe: no per-call schema parsing, no shared mutable state.

:func:`decode_record` and :func:`decode_record_key` decode a log record and, on
failure, re-raise with the record's topic, partition and offset in the error.
"""

from __future__ import annotations

from typing import Any, Protocol, TypeVar, runtime_checkable

from slither_stream.errors import SerializationError
from slither_stream.log.types import Record

T = TypeVar("T")


@runtime_checkable
class Serde(Protocol[T]):
    """Turns values of type ``T`` into bytes and back (see the module docstring)."""

    @property
    def name(self) -> str:
        """Short name shown in errors and accepted by ``serde_for`` (``"json"``)."""
        ...

    def encode(self, value: T) -> bytes:
        """Bytes for ``value``; SerializationError if it cannot be represented."""
        ...

    def decode(self, data: bytes) -> T:
        """The value in ``data``; SerializationError (only) if ``data`` is bad."""
        ...


def decode_record(serde: Serde[T], record: Record) -> T | None:
    """Decode ``record.value``; a tombstone (``None`` value) decodes to ``None``.

    A failure is re-raised as a SerializationError located at the record's topic,
    partition and offset, chained to the original error.
    """
    if record.value is None:
        return None
    try:
        return serde.decode(record.value)
    except SerializationError as exc:
        raise exc.located(record.topic, record.partition, record.offset) from exc


def decode_record_key(serde: Serde[T], record: Record) -> T | None:
    """Decode ``record.key`` (``None`` stays ``None``), located like :func:`decode_record`."""
    if record.key is None:
        return None
    try:
        return serde.decode(record.key)
    except SerializationError as exc:
        raise exc.located(record.topic, record.partition, record.offset) from exc


def describe_value(value: Any, limit: int = 60) -> str:
    """``str 'abc'``-style description of a value for error messages, kept short."""
    text = repr(value)
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    return f"{type(value).__name__} {text}"
