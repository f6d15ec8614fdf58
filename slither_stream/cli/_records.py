"""Turning JSON lines into records for ``slither produce``: keys, pointers, values.

Each line is judged on its own; a bad one becomes a :class:`BadLine` naming its line
number and reason, so the command can produce every good line and report the rest.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import orjson

from slither_stream.errors import ConfigError, SerializationError
from slither_stream.serde import Serde

_MISSING = object()


@dataclass(frozen=True)
class KeySource:
    """Where a record's key comes from: a top-level field or an RFC 6901 pointer."""

    label: str
    tokens: tuple[str, ...]

    @classmethod
    def field(cls, name: str) -> KeySource:
        if not name:
            raise ConfigError("--key-field needs a field name")
        return cls(f"field {name!r}", (name,))

    @classmethod
    def pointer(cls, pointer: str) -> KeySource:
        """Parse a JSON pointer such as ``/user/id`` (``~1`` is '/', ``~0`` is '~')."""
        if pointer == "":
            return cls("pointer ''", ())
        if not pointer.startswith("/"):
            raise ConfigError(f"--key-pointer {pointer!r} must start with '/' (RFC 6901), "
                              "as in /user/id")
        tokens = tuple(part.replace("~1", "/").replace("~0", "~")
                       for part in pointer[1:].split("/"))
        return cls(f"pointer {pointer!r}", tokens)

    def find(self, document: Any) -> Any:
        """The value at this source in ``document``, or the ``_MISSING`` sentinel."""
        current = document
        for token in self.tokens:
            if isinstance(current, dict):
                current = current.get(token, _MISSING)
            elif isinstance(current, list) and token.isdigit() and (
                    token == "0" or not token.startswith("0")):
                index = int(token)
                current = current[index] if index < len(current) else _MISSING
            else:
                return _MISSING
            if current is _MISSING:
                return _MISSING
        return current


def key_bytes(value: Any) -> bytes:
    """A key's bytes: strings as UTF-8 text, anything else as compact JSON.

    So ``{"user": "u1"}`` keys as ``u1`` and ``{"user": 7}`` as ``7``: the same bytes
    a Kafka console producer would use for the same key text.
    """
    if isinstance(value, str):
        return value.encode()
    return orjson.dumps(value)


@dataclass(frozen=True)
class GoodLine:
    number: int
    key: bytes | None
    value: bytes


@dataclass(frozen=True)
class BadLine:
    number: int
    reason: str


def parse_lines(lines: Iterable[bytes], *, key: KeySource | None,
                serde: Serde[Any] | None) -> Iterator[GoodLine | BadLine]:
    """Judge each non-blank line (numbered from 1) as a record or a bad line.

    With ``serde=None`` a valid JSON line is produced byte for byte as written;
    otherwise the parsed document is encoded with ``serde`` (Avro, for example).
    """
    for number, raw in enumerate(lines, start=1):
        text = raw.strip()
        if not text:
            continue
        yield parse_line(number, text, key=key, serde=serde)


def parse_line(number: int, text: bytes, *, key: KeySource | None,
               serde: Serde[Any] | None) -> GoodLine | BadLine:
    try:
        document = orjson.loads(text)
    except orjson.JSONDecodeError as error:
        return BadLine(number, f"invalid JSON: {error}")
    record_key = None
    if key is not None:
        found = key.find(document)
        if found is _MISSING:
            return BadLine(number, f"no key: {key.label} not found")
        if found is None:
            return BadLine(number, f"no key: {key.label} is null")
        record_key = key_bytes(found)
    if serde is None:
        return GoodLine(number, record_key, text)
    try:
        value = serde.encode(document)
    except SerializationError as error:
        return BadLine(number, f"cannot encode as {serde.name}: {error}")
    return GoodLine(number, record_key, value)
