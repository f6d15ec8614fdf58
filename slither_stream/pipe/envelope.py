"""How an :class:`Item` travels on a topic between stages.

The record value is the payload in the pipe's serde (JSON by default), so output
topics are plain JSON any consumer can read. The rest of the envelope rides in
headers: ``slither.id`` (decimal id), ``slither.meta`` (JSON object, when non-empty),
``slither.route`` (when not ``default``) and ``slither.key`` = ``s`` when the key was a
``str`` (so it comes back as one). A record with no ``slither.id`` header (written by
an outside producer) gets a fresh id when it is decoded.

A topic can declare another serde for its values (``avro:<schema>``, ``string``,
``raw``): :func:`envelope_for` builds the envelope of a declared spec, once per topic,
so the per-record path never looks a serde up.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from slither_stream.errors import SerializationError
from slither_stream.item import DEFAULT_ROUTE, Item, _take_ids, next_id
from slither_stream.log.types import Headers, Record
from slither_stream.serde.json_serde import JsonSerde
from slither_stream.serde.lookup import serde_for
from slither_stream.serde.schemas import SchemaRegistry

DEFAULT_SERDE = "json"
"""What a topic carries when nothing is declared: the payload as JSON."""

ID_HEADER = "slither.id"
META_HEADER = "slither.meta"
ROUTE_HEADER = "slither.route"
KEY_HEADER = "slither.key"
ENVELOPE_HEADERS = frozenset({ID_HEADER, META_HEADER, ROUTE_HEADER, KEY_HEADER})


def envelope_for(spec: str, registry: SchemaRegistry | None = None) -> Envelope:
    """The envelope of a topic declared with serde ``spec`` (see
    :func:`~slither_stream.serde.serde_for`; ``registry`` resolves Avro schema names,
    default ``$SLITHER_SCHEMAS`` or ``./schemas``). Raises ConfigError for a bad spec."""
    if spec == DEFAULT_SERDE:
        return Envelope()
    return Envelope(serde_for(spec, registry=registry))


class Envelope:
    """Encodes items to ``(key, value, headers)`` and decodes records back."""

    def __init__(self, serde: Any = None) -> None:
        self.serde = serde if serde is not None else JsonSerde()

    @property
    def serde_name(self) -> str:
        """The value serde's name (``json``, ``avro:slither.examples.Transaction``)."""
        return str(getattr(self.serde, "name", type(self.serde).__name__))

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

    def decode(self, record: Record, *, fresh_id: int | None = None) -> Item:
        """The item carried by ``record``; :class:`SerializationError` names the record.

        ``fresh_id`` is the id to give a record without a ``slither.id`` header (one
        is taken from :func:`next_id` when not given; :meth:`decode_many` reserves
        them per batch, because taking the id lock per record showed in profiles).
        """
        if record.value is None:
            raise SerializationError("record has no value (tombstone)", topic=record.topic,
                                     partition=record.partition, offset=record.offset)
        try:
            payload = self.serde.decode(record.value)
        except SerializationError as error:
            raise error.located(record.topic, record.partition, record.offset) from error
        # One pass over the headers (the last of a name wins, as Record.header).
        found: dict[str, bytes] = {}
        for name, value in record.headers:
            if name in ENVELOPE_HEADERS:
                found[name] = value
        raw_id = found.get(ID_HEADER)
        meta_raw = found.get(META_HEADER)
        try:
            if raw_id is not None:
                item_id = int(raw_id)
            else:
                item_id = fresh_id if fresh_id is not None else next_id()
            meta = orjson.loads(meta_raw) if meta_raw is not None else {}
        except (ValueError, orjson.JSONDecodeError) as error:
            raise SerializationError(
                f"bad slither envelope header: {error}", topic=record.topic,
                partition=record.partition, offset=record.offset) from error
        if not isinstance(meta, dict):
            raise SerializationError("slither.meta header is not a JSON object",
                                     topic=record.topic, partition=record.partition,
                                     offset=record.offset)
        route_raw = found.get(ROUTE_HEADER)
        key: bytes | str | None = record.key
        if record.key is not None and found.get(KEY_HEADER) == b"s":
            key = record.key.decode("utf-8", errors="replace")
        return Item(id=item_id, payload=payload, key=key, meta=meta,
                    route=route_raw.decode() if route_raw else DEFAULT_ROUTE)

    def decode_many(self, records: Sequence[Record]) -> list[Item | SerializationError]:
        """:meth:`decode` per record, in order; an undecodable record gives its error
        in its place. Fresh ids are reserved once for the batch (ids stay unique and
        increasing; ids of records that carry their own are left unused)."""
        results: list[Item | SerializationError] = []
        for record, fresh in zip(records, _take_ids(len(records)), strict=True):
            try:
                results.append(self.decode(record, fresh_id=fresh))
            except SerializationError as error:
                results.append(error)
        return results
