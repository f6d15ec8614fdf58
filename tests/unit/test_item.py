from __future__ import annotations

import threading

from slither_stream.item import DEFAULT_ROUTE, Item, next_id


def test_wrap_gives_fresh_increasing_ids_and_defaults() -> None:
    first = Item.wrap({"a": 1})
    second = Item.wrap({"a": 2})
    assert second.id > first.id
    assert first.payload == {"a": 1}
    assert first.meta == {}
    assert first.route == DEFAULT_ROUTE
    assert first.key is None


def test_wrap_returns_an_item_unchanged() -> None:
    item = Item.wrap("x", key="k", meta={"m": 1})
    assert Item.wrap(item) is item


def test_wrap_many_gives_consecutive_ids_and_keeps_wrapped_items() -> None:
    existing = Item.wrap("already")
    items = Item.wrap_many(["a", existing, "b", "c"])
    assert [i.payload for i in items] == ["a", "already", "b", "c"]
    assert items[1] is existing
    fresh = [items[0].id, items[2].id, items[3].id]
    assert fresh == [fresh[0], fresh[0] + 2, fresh[0] + 3]


def test_update_payload_and_put_meta_keep_identity_fields() -> None:
    item = Item.wrap(1, key=b"k", meta={"a": 1}).with_route("accept")
    updated = item.update_payload(2).put_meta({"b": 2}, c=3)
    assert (updated.id, updated.key, updated.route) == (item.id, b"k", "accept")
    assert updated.payload == 2
    assert updated.meta == {"a": 1, "b": 2, "c": 3}
    # The original is untouched: items are immutable values.
    assert item.payload == 1 and item.meta == {"a": 1}


def test_ids_are_unique_across_threads() -> None:
    seen: list[int] = []
    lock = threading.Lock()

    def take() -> None:
        local = [next_id() for _ in range(2000)] + [i.id for i in Item.wrap_many(range(500))]
        with lock:
            seen.extend(local)

    threads = [threading.Thread(target=take) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(seen) == len(set(seen)) == 4 * 2500
