"""The batching-strategy seam.

A strategy turns a stream of items into a stream of batches. It must be lazy: the
runner pulls the next batch only when an in-flight slot is free, and the strategy
pulls items from the input only to build that batch. That laziness is what makes
``dispatch.stream`` real backpressure instead of a buffer.

Contract every strategy keeps (the property tests in ``tests/dispatch`` check it):

* every input item appears in exactly one batch (nothing lost, nothing duplicated);
* no batch is empty;
* the strategy documents which order it promises (FixedBatch and WeightedBatch keep
  input order; KeyPartition keeps input order inside each key's batch).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Protocol, runtime_checkable

from slither_stream.item import Item


@runtime_checkable
class Strategy(Protocol):
    """Splits items into batches, lazily."""

    def batches(self, items: Iterable[Item], batch_size: int) -> Iterator[list[Item]]:
        """Yield non-empty batches covering ``items`` exactly once.

        ``batch_size`` is the run's ``batch_size`` option; strategies that have their
        own sizing rule may ignore it.
        """
        ...
