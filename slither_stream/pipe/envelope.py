"""How an :class:`Item` travels on a topic between stages.

The record value is the payload in the pipe's serde (JSON by default), so output
topics are plain JSON any consumer can read. The rest of the envelope rides in
headers: ``slither.id`` (decimal id), ``slither.meta`` (JSON object, when non-empty),
``slither.route`` (when not ``default``) and ``slither.key`` = ``s`` when the key was a
``str`` (so it comes back as one). A record with no ``slither.id`` header (written by
an outside producer) gets a fresh id when it is decoded.
"""

from __future__ import annotations

from typing import Any

import orjson

from slither_stream.errors import SerializationError
from slither_stream.item import DEFAULT_ROUTE, Item, next_id
from slither_stream.log.types import Headers, Record
from slither_stream.serde.json_serde import JsonSerde

ID_HEADER = "slither.id"
META_HEADER = "slither.meta"
ROUTE_HEADER = "slither.route"
KEY_HEADER = "slither.key"
ENVELOPE_HEADERS = frozenset({ID_HEADER, META_HEADER, ROUTE_HEADER, KEY_HEADER})


class Envelope:
    """Encodes items to ``(key, value, headers)`` and decodes records back."""

    def __init__(self, serde: Any = None) -> None:
        self.serde = serde if serde is not None else JsonSerde()

    def encode(self, item: Item) -> tuple[bytes | None, bytes, Headers]:
        """Key bytes, value bytes and headers for ``item``."""
        headers: list[tuple[str, bytes]] = [(ID_HEADER, str(item.id).encode())]
        if item.meta:
            try:
                headers.append((META_HEADER, orjson.dumps(
                    dict(item.meta), option=orjson.OPT_SERIALIZE_NUMPY)))
            except (TypeError, orjson.JSONEncodeError) as error:
                raise SerializationError(
                    f"item {item.id} meta is not representable as JSON: {error}",
                    operation="encode") from error
        if item.route != DEFAULT_ROUTE:
            headers.append((ROUTE_HEADER, item.route.encode()))
        key: bytes | None
        if isinstance(item.key, str):
            key = item.key.encode()
            headers.append((KEY_HEADER, b"s"))
        else:
            key = item.key
        return key, self.serde.encode(item.payload), tuple(headers)

    def decode(self, record: Record) -> Item:
        """The item carried by ``record``; :class:`SerializationError` names the record."""
        if record.value is None:
            raise SerializationError("record has no value (tombstone)", topic=record.topic,
                                     partition=record.partition, offset=record.offset)
        try:
            payload = self.serde.decode(record.value)
        except SerializationError as error:
            raise error.located(record.topic, record.partition, record.offset) from error
        raw_id = record.header(ID_HEADER)
        meta_raw = record.header(META_HEADER)
        try:
            item_id = int(raw_id) if raw_id is not None else next_id()
            meta = orjson.loads(meta_raw) if meta_raw is not None else {}
        except (ValueError, orjson.JSONDecodeError) as error:
            raise SerializationError(
                f"bad slither envelope header: {error}", topic=record.topic,
                partition=record.partition, offset=record.offset) from error
        if not isinstance(meta, dict):
            raise SerializationError("slither.meta header is not a JSON object",
                                     topic=record.topic, partition=record.partition,
                                     offset=record.offset)
        route_raw = record.header(ROUTE_HEADER)
        key: bytes | str | None = record.key
        if record.key is not None and record.header(KEY_HEADER) == b"s":
            key = record.key.decode("utf-8", errors="replace")
        return Item(id=item_id, payload=payload, key=key, meta=meta,
                    route=route_raw.decode() if route_raw else DEFAULT_ROUTE)
