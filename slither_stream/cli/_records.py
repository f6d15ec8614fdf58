"""Turning JSON lines into records for ``slither produce``: keys, pointers, values.

Each line is judged on its own; a bad one becomes a :class:`BadLine` naming its line
number and reason, so the command can produce every good line and report the rest.
:class:`LineParser` does it a block of lines at a time, straight into the record
tuples :meth:`~slither_stream.log.base.Producer.produce_many` takes, with no object
per good line (the command's cost per line was mostly Python objects and calls).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from slither_stream.errors import ConfigError, SerializationError
from slither_stream.log.types import Outgoing
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


class LineParser:
    """Lines to records of one topic: ``parse(lines, first)`` returns the records of
    the good lines, in order, and the bad ones. Judges every line as
    :func:`parse_line` does, with fast paths for JSON written as is (no key, or a
    top-level ``--key-field``)."""

    def __init__(self, topic: str, *, key: KeySource | None,
                 serde: Serde[Any] | None) -> None:
        self.topic = topic
        self.key = key
        self.serde = serde
        self._field = key.tokens[0] if key is not None and len(key.tokens) == 1 else None

    def parse(self, lines: Sequence[bytes], first: int
              ) -> tuple[list[Outgoing], list[BadLine]]:
        """``lines`` numbered from ``first``; blank ones are skipped."""
        if self.serde is None and self.key is None:
            return self._as_written(lines, first)
        if self.serde is None and self._field is not None:
            return self._keyed_by_field(lines, first, self._field)
        records: list[Outgoing] = []
        bad: list[BadLine] = []
        topic = self.topic
        for number, raw in enumerate(lines, start=first):
            text = raw.strip()
            if not text:
                continue
            line = parse_line(number, text, key=self.key, serde=self.serde)
            if isinstance(line, BadLine):
                bad.append(line)
            else:
                records.append((topic, line.value, line.key, ()))
        return records, bad

    def _as_written(self, lines: Sequence[bytes], first: int
                    ) -> tuple[list[Outgoing], list[BadLine]]:
        records: list[Outgoing] = []
        bad: list[BadLine] = []
        append, topic, loads, invalid = records.append, self.topic, orjson.loads, \
            orjson.JSONDecodeError
        number = first - 1
        for raw in lines:
            number += 1
            text = raw.strip()
            if not text:
                continue
            try:
                loads(text)
            except invalid as error:
                bad.append(BadLine(number, f"invalid JSON: {error}"))
                continue
            append((topic, text, None, ()))
        return records, bad

    def _keyed_by_field(self, lines: Sequence[bytes], first: int, field: str
                        ) -> tuple[list[Outgoing], list[BadLine]]:
        records: list[Outgoing] = []
        bad: list[BadLine] = []
        append, topic, loads, invalid = records.append, self.topic, orjson.loads, \
            orjson.JSONDecodeError
        assert self.key is not None
        label = self.key.label
        number = first - 1
        for raw in lines:
            number += 1
            text = raw.strip()
            if not text:
                continue
            try:
                document = loads(text)
            except invalid as error:
                bad.append(BadLine(number, f"invalid JSON: {error}"))
                continue
            found = document.get(field, _MISSING) if type(document) is dict else _MISSING
            if type(found) is str:
                append((topic, text, found.encode(), ()))
            elif found is _MISSING:
                bad.append(BadLine(number, f"no key: {label} not found"))
            elif found is None:
                bad.append(BadLine(number, f"no key: {label} is null"))
            else:
                append((topic, text, key_bytes(found), ()))
        return records, bad
