"""KeyPartition: items that share a key go to the same batch."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Iterator
from dataclasses import dataclass
from itertools import islice

from slither_stream.errors import ConfigError
from slither_stream.item import Item

KeyFn = Callable[[Item], Hashable]


def item_key(item: Item) -> Hashable:
    """The default key: the item's own ``key``."""
    return item.key


@dataclass(frozen=True)
class KeyPartition:
    """One batch per distinct key, items in input order inside each batch.

    Batches come out in the order their key first appeared. Grouping needs to see
    every item of a key before the batch can leave, so with ``window=None`` (the
    default) the whole input is read before the first batch is sent: use it on
    finite inputs. ``window=N`` groups each run of N consecutive input items on its
    own, which keeps ``dispatch.stream`` bounded on endless inputs at the price of a
    key appearing in one batch per window.
    """

    key_fn: KeyFn = item_key
    window: int | None = None

    def __post_init__(self) -> None:
        if not callable(self.key_fn):
            raise ConfigError(f"KeyPartition key_fn must be callable, got {self.key_fn!r}")
        size = self.window
        if size is not None and (isinstance(size, bool) or not isinstance(size, int)
                                 or size < 1):
            raise ConfigError(f"KeyPartition window must be an int >= 1, got {size!r}")

    def _group(self, items: Iterable[Item]) -> Iterator[list[Item]]:
        groups: dict[Hashable, list[Item]] = {}
        for item in items:
            key = self.key_fn(item)
            try:
                groups.setdefault(key, []).append(item)
            except TypeError as error:
                raise ConfigError(
                    f"KeyPartition key_fn returned an unhashable key {key!r} for item "
                    f"{item.id}") from error
        yield from groups.values()

    def batches(self, items: Iterable[Item], batch_size: int) -> Iterator[list[Item]]:
        if self.window is None:
            yield from self._group(items)
            return
        source = iter(items)
        while True:
            chunk = list(islice(source, self.window))
            if not chunk:
                return
            yield from self._group(chunk)
