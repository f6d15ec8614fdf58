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

A pipe output declared with ``headers=False`` gets a :class:`PlainEnvelope`: key and
value only, for topics other systems read. It is also the cheaper write: librdkafka
builds, serializes and frees every header, and the broker validates it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from slither_stream.errors import SerializationError
from slither_stream.item import DEFAULT_ROUTE, Item, _take_ids, next_id
from slither_stream.log.record_batch import RecordBatch
from slither_stream.log.types import Headers, Outgoing, Record
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


def envelope_for(spec: str, registry: SchemaRegistry | None = None, *,
                 headers: bool = True) -> Envelope:
    """The envelope of a topic declared with serde ``spec`` (see
    :func:`~slither_stream.serde.serde_for`; ``registry`` resolves Avro schema names,
    default ``$SLITHER_SCHEMAS`` or ``./schemas``); a :class:`PlainEnvelope` when the
    topic is written without ``headers``. Raises ConfigError for a bad spec."""
    serde = None if spec == DEFAULT_SERDE else serde_for(spec, registry=registry)
    return Envelope(serde) if headers else PlainEnvelope(serde)


class Envelope:
    """Encodes items to ``(key, value, headers)`` and decodes records back."""

    def __init__(self, serde: Any = None) -> None:
        self.serde = serde if serde is not None else JsonSerde()
        # Encoded values go straight to a producer, which copies them: a serde that
        # can skip keeping them compact (JSON) is asked to.
        self._encode_value = getattr(self.serde, "encode_transient", self.serde.encode)

    @property
    def serde_name(self) -> str:
        """The value serde's name (``json``, ``avro:slither.examples.Transaction``)."""
        return str(getattr(self.serde, "name", type(self.serde).__name__))

    def encode(self, item: Item) -> tuple[bytes | None, bytes, Headers]:
        """Key bytes, value bytes and headers for ``item``."""
        _topic, value, key, headers = self.write("", item, item.payload)
        assert value is not None
        return key, value, tuple(headers)

    def write(self, topic: str, item: Item, payload: Any) -> Outgoing:
        """The write of ``item`` to ``topic``, with ``payload`` for its payload: a
        stage writes the commonest result, a new payload for its input item, this
        way, without an Item built per record for it; the result is what a
        producer's ``produce_many`` takes, with no tuple repacked on the way."""
        key = item.key
        if not item.meta and not isinstance(key, str):
            # The common cases (one per record between stages, and after a router):
            # the id header, and the route when there is one.
            value = self._encode_value(payload)
            if item.route == DEFAULT_ROUTE:
                return topic, value, key, ((ID_HEADER, b"%d" % item.id),)
            return topic, value, key, ((ID_HEADER, b"%d" % item.id),
                                       (ROUTE_HEADER, item.route.encode()))
        headers: list[tuple[str, bytes]] = [(ID_HEADER, b"%d" % item.id)]
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
        if isinstance(key, str):
            headers.append((KEY_HEADER, b"s"))
            return topic, self._encode_value(payload), key.encode(), tuple(headers)
        return topic, self._encode_value(payload), key, tuple(headers)

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
        increasing; ids of records that carry their own are left unused).

        Records with no headers but ``slither.id`` (what stages write, and what
        outside producers send) take a short path, reading the batch's columns;
        anything else, and any error, goes through :meth:`decode`, so results and
        error messages are the same."""
        batch = RecordBatch.of(records)
        results: list[Item | SerializationError] = []
        append = results.append
        # JSON: orjson itself, one Python call less per record (an error still
        # falls through to decode(), which says what is wrong).
        serde_decode = orjson.loads if type(self.serde) is JsonSerde else self.serde.decode
        ids = _take_ids(len(batch))
        new_item = object.__new__
        for fresh, value, headers, key in zip(ids, batch.values, batch.headers, batch.keys,
                                              strict=True):
            if value is not None and (not headers or (
                    len(headers) == 1 and headers[0][0] == ID_HEADER)):
                try:
                    payload = serde_decode(value)
                    item_id = int(headers[0][1]) if headers else fresh
                except (SerializationError, ValueError):
                    pass  # decode() below names what is wrong
                else:
                    # Item(item_id, payload, key, {}, DEFAULT_ROUTE) without a Python
                    # __init__ frame per record. Every field is set;
                    # tests/pipe/test_offsets_envelope.py fails if Item gains one.
                    item = new_item(Item)
                    item.id = item_id
                    item.payload = payload
                    item.key = key
                    item.meta = {}
                    item.route = DEFAULT_ROUTE
                    append(item)
                    continue
            try:
                append(self.decode(batch[fresh - ids.start], fresh_id=fresh))
            except SerializationError as error:
                append(error)
        return results


class PlainEnvelope(Envelope):
    """Writes an item as key and value only: no ``slither.*`` headers, so the item's
    id, meta and route stay behind and a ``str`` key arrives as its UTF-8 bytes.
    Reading such a record (:meth:`Envelope.decode`) gives a fresh id, as for any
    record from outside."""

    def write(self, topic: str, item: Item, payload: Any) -> Outgoing:
        key = item.key
        return (topic, self._encode_value(payload), key.encode() if isinstance(key, str) else key,
                ())
