"""Global tables as targets of a stage's buffered state writes.

A pipe's stores (``pipe.store(...)``) are global tables: every process of a
deployment reads all of each, and one owner per host applies writes. A stage
writing to one produces the changelog records itself at commit (in its
transaction under exactly_once); once they are durable,
:meth:`GlobalTableTarget.committed` writes them into the owner's live generation,
so the stage reads its own writes from the table at once. (Waiting for a changelog
follower instead is not enough: a transaction's commit returns before its markers
reach the partitions, so the changelog's stable end may not include it yet.)

The owner's changelog checkpoint is left as it is: a restart replays the changelog
from there, these records included, and so ends in the changelog's state; an owner
following the changelog (follow mode) applies them again in log order, so the
table converges to the log's last value per key.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rocksdict import WriteBatch

from slither_stream.pipe.engine.write_buffer import StateTarget

if TYPE_CHECKING:
    from slither_stream.store.owner import StoreOwner
    from slither_stream.store.table import Table


class GlobalTableTarget(StateTarget):
    """Table ``table`` of the store owned by ``owner`` (in this process)."""

    def __init__(self, owner: StoreOwner, table: str) -> None:
        self.owner = owner
        self.table: Table = owner.table(table)
        self.topic = owner.topics[table]
        self._name = table

    def read(self, key: bytes) -> bytes | None:
        value: bytes | None = self.owner.current.tables[self._name].get(key)
        return value

    def committed(self, entries: dict[bytes, bytes | None]) -> None:
        owner = self.owner
        with owner.applied:  # as a follower applies: not during a generation swap
            generation = owner.current
            handle = generation.handles[self._name]
            batch = WriteBatch(raw_mode=True)
            for key, value in entries.items():
                if value is None:
                    batch.delete(key, handle)
                else:
                    batch.put(key, value, handle)
            generation.write(batch)
        owner.sizes.changed()

    def __repr__(self) -> str:
        return f"<GlobalTableTarget {self.topic}>"
