"""The slither.Envelope schema carries an Item's fields through Avro unchanged."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from slither_stream.item import DEFAULT_ROUTE, Item
from slither_stream.serde import AvroSerde, SchemaRegistry


def _envelope(item: Item) -> dict[str, Any]:
    payload = item.payload if isinstance(item.payload, bytes) else orjson.dumps(
        item.payload).decode()
    return {"id": item.id, "key": item.key, "payload": payload,
            "meta": {k: orjson.dumps(v).decode() for k, v in item.meta.items()},
            "route": item.route}


@pytest.mark.parametrize("item", [
    Item(id=1, payload={"amount": 5.5, "tags": ["x"]}, key="user-1", meta={"try": 2}),
    Item(id=2**40, payload=b"\x00raw", key=b"\x01k", route="review"),
    Item(id=3, payload=None),
])
def test_item_round_trips_through_the_envelope(registry: SchemaRegistry, item: Item) -> None:
    serde = AvroSerde(registry.get("slither.Envelope"))
    decoded = serde.decode(serde.encode(_envelope(item)))
    assert decoded == _envelope(item)
    payload = decoded["payload"]
    restored = payload if isinstance(payload, bytes) else orjson.loads(payload)
    assert restored == item.payload
    assert {k: orjson.loads(v) for k, v in decoded["meta"].items()} == dict(item.meta)


def test_defaults_fill_key_meta_and_route(registry: SchemaRegistry) -> None:
    serde = AvroSerde(registry.get("slither.Envelope"))
    decoded = serde.decode(serde.encode({"id": 9, "payload": "1"}))
    assert decoded == {"id": 9, "key": None, "payload": "1", "meta": {},
                       "route": DEFAULT_ROUTE}
