"""Produced records waiting for their write, grouped by partition.

Grouping at produce time keeps the write path cheap: the engine assigns one base
offset per partition (record ``i`` of a partition gets ``base + i``) and writes
each partition's keys in ascending order, which RocksDB's memtable inserts much
faster than interleaved keys.
"""

from __future__ import annotations

from slither_stream.log.base import DeliveryCallback
from slither_stream.log.embedded._topics import TopicState

Entry = tuple[bytes, int, DeliveryCallback | None]
"""One record: encoded blob, timestamp (ms), delivery callback."""

Slot = tuple[TopicState, int]
"""A partition of a live topic."""


class PendingBatch:
    """Records for one write, in produce order within each partition."""

    __slots__ = ("count", "slots")

    def __init__(self) -> None:
        self.slots: dict[Slot, list[Entry]] = {}
        self.count = 0

    def add(self, state: TopicState, partition: int, entry: Entry) -> int:
        """Queue ``entry``; returns the number of records now pending."""
        slot = (state, partition)
        entries = self.slots.get(slot)
        if entries is None:
            self.slots[slot] = [entry]
        else:
            entries.append(entry)
        self.count += 1
        return self.count

    def in_write_order(self) -> list[tuple[Slot, list[Entry]]]:
        """Partitions sorted as their keys sort in RocksDB."""
        return sorted(self.slots.items(), key=lambda item: (item[0][0].topic_id, item[0][1]))
