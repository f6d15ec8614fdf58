"""Global tables as targets of a stage's buffered state writes.

A pipe's stores (``pipe.store(...)``) are global tables: every process of a
deployment reads all of each, and their owner follows the changelog, applying
every record in log order (follow mode). A stage writing to one produces the
changelog records itself at commit; :meth:`GlobalTableTarget.committed` then waits
until the owner has applied everything now in the changelog, so the stage reads
its own writes from the table afterwards.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

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
        self.owner.sync()

    def __repr__(self) -> str:
        return f"<GlobalTableTarget {self.topic}>"
