"""WeightedBatch: batches bounded by a total weight (tokens, bytes, pixels...)."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from slither_stream.errors import ConfigError
from slither_stream.item import Item

WeightFn = Callable[[Item], float]


def _check_number(name: str, value: object, *, positive: bool) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        raise ConfigError(f"WeightedBatch {name} must be a number, got {value!r}")
    if positive and value <= 0:
        raise ConfigError(f"WeightedBatch {name} must be > 0, got {value!r}")
    return float(value)


@dataclass(frozen=True)
class WeightedBatch:
    """Consecutive items whose weights sum to at most ``max_weight``, in input order.

    An item heavier than ``max_weight`` on its own travels alone in a batch of one
    (it is never dropped or split). ``max_items`` optionally caps the item count too.
    Deciding that a batch is full needs the next item's weight, so this strategy reads
    at most one item past the batch it yields.
    """

    max_weight: float
    weight_fn: WeightFn
    max_items: int | None = None

    def __post_init__(self) -> None:
        _check_number("max_weight", self.max_weight, positive=True)
        if not callable(self.weight_fn):
            raise ConfigError(
                f"WeightedBatch weight_fn must be callable, got {self.weight_fn!r}")
        cap = self.max_items
        if cap is not None and (isinstance(cap, bool) or not isinstance(cap, int) or cap < 1):
            raise ConfigError(f"WeightedBatch max_items must be an int >= 1, got {cap!r}")

    def _weight(self, item: Item) -> float:
        weight = self.weight_fn(item)
        if isinstance(weight, bool) or not isinstance(weight, int | float) or weight < 0 \
                or math.isnan(weight):
            raise ConfigError(
                f"WeightedBatch weight_fn returned {weight!r} for item {item.id}; "
                "weights must be non-negative numbers")
        return float(weight)

    def batches(self, items: Iterable[Item], batch_size: int) -> Iterator[list[Item]]:
        batch: list[Item] = []
        total = 0.0
        for item in items:
            weight = self._weight(item)
            if weight > self.max_weight:
                if batch:
                    yield batch
                    batch, total = [], 0.0
                yield [item]
                continue
            full = self.max_items is not None and len(batch) >= self.max_items
            if batch and (total + weight > self.max_weight or full):
                yield batch
                batch, total = [], 0.0
            batch.append(item)
            total += weight
        if batch:
            yield batch
