"""Strategies: nothing lost or duplicated, order where promised (hypothesis)."""

from __future__ import annotations

from collections import Counter
from itertools import count

from hypothesis import given, settings
from hypothesis import strategies as st

from slither_stream import dispatch
from slither_stream.errors import ConfigError
from slither_stream.item import Item

payload_lists = st.lists(st.integers(min_value=0, max_value=50), max_size=200)


def _items(payloads: list[int]) -> list[Item]:
    return [Item(id=i, payload=p, key=f"k{p % 7}") for i, p in enumerate(payloads)]


def _flat_ids(batches: list[list[Item]]) -> list[int]:
    return [item.id for batch in batches for item in batch]


@given(payload_lists, st.integers(min_value=1, max_value=40))
def test_fixed_batch_keeps_every_item_in_order(payloads: list[int], size: int) -> None:
    items = _items(payloads)
    batches = list(dispatch.FixedBatch().batches(iter(items), size))
    assert _flat_ids(batches) == [item.id for item in items]
    assert all(1 <= len(batch) <= size for batch in batches)
    assert all(len(batch) == size for batch in batches[:-1])


@given(payload_lists, st.integers(min_value=1, max_value=60),
       st.one_of(st.none(), st.integers(min_value=1, max_value=10)))
def test_weighted_batch_bounds_weight_and_keeps_order(
        payloads: list[int], max_weight: int, max_items: int | None) -> None:
    items = _items(payloads)
    strategy = dispatch.WeightedBatch(max_weight, lambda item: item.payload, max_items)
    batches = list(strategy.batches(iter(items), 64))
    assert _flat_ids(batches) == [item.id for item in items]
    for batch in batches:
        assert batch, "no empty batches"
        weight = sum(item.payload for item in batch)
        if len(batch) > 1:
            assert weight <= max_weight
            assert all(item.payload <= max_weight for item in batch)
        if max_items is not None:
            assert len(batch) <= max_items
    heavy = [item.id for item in items if item.payload > max_weight]
    alone = [batch[0].id for batch in batches if len(batch) == 1]
    assert set(heavy) <= set(alone), "an item heavier than max_weight travels alone"


@given(payload_lists, st.one_of(st.none(), st.integers(min_value=1, max_value=30)))
def test_key_partition_groups_keys_in_input_order(payloads: list[int],
                                                  window: int | None) -> None:
    items = _items(payloads)
    batches = list(dispatch.KeyPartition(window=window).batches(iter(items), 64))
    assert Counter(_flat_ids(batches)) == Counter(item.id for item in items)
    assert len(_flat_ids(batches)) == len(items)
    for batch in batches:
        assert len({item.key for item in batch}) == 1, "one key per batch"
        ids = [item.id for item in batch]
        assert ids == sorted(ids), "input order inside a key's batch"
    if window is None:
        keys = [batch[0].key for batch in batches]
        assert len(keys) == len(set(keys)), "each key in exactly one batch"
    else:
        for start in range(0, len(items), window):
            chunk = {item.id for item in items[start:start + window]}
            chunk_batches = [b for b in batches if b[0].id in chunk]
            assert all({item.id for item in b} <= chunk for b in chunk_batches)


def test_key_partition_custom_key_fn_and_first_appearance_order() -> None:
    items = Item.wrap_many(["apple", "bob", "avocado", "cat", "banana"])
    batches = list(dispatch.KeyPartition(lambda item: item.payload[0]).batches(items, 2))
    assert [[i.payload for i in b] for b in batches] == [
        ["apple", "avocado"], ["bob", "banana"], ["cat"]]


def test_fixed_batch_is_lazy() -> None:
    pulled = count()

    def source() -> object:
        while True:
            next(pulled)
            yield Item.wrap(1)

    batches = dispatch.FixedBatch(5).batches(source(), 64)  # type: ignore[arg-type]
    next(batches)
    assert next(pulled) == 5, "one batch pulls exactly batch_size items"


def test_weight_fn_returning_garbage_names_the_item() -> None:
    strategy = dispatch.WeightedBatch(10, lambda item: -1)
    item = Item.wrap("x")
    try:
        list(strategy.batches([item], 64))
    except ConfigError as error:
        assert f"item {item.id}" in str(error)
    else:
        raise AssertionError("negative weight accepted")


@settings(max_examples=30, deadline=None)
@given(st.lists(st.integers(), max_size=120), st.integers(1, 9), st.integers(1, 5),
       st.sampled_from(["preserve", "as_completed"]))
def test_run_loses_nothing_and_preserves_order(payloads: list[int], batch_size: int,
                                               max_in_flight: int, ordering: str) -> None:
    with dispatch.Threads(lambda xs: [x * 3 for x in xs], max_workers=3) as pool:
        results = dispatch.run(payloads, executor=pool, batch_size=batch_size,
                               max_in_flight=max_in_flight, ordering=ordering)
    values = [result.payload for result in results]
    expected = [p * 3 for p in payloads]
    if ordering == "preserve":
        assert values == expected
    else:
        assert Counter(values) == Counter(expected)
