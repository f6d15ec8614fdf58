"""Offset bookkeeping of a stage, per batch rather than per record.

A stage produces a batch's writes without per-record delivery callbacks and
finishes whole batches: once a commit made them durable (a flush that returned
without error, or a committed transaction), every record processed before it is
done, and since a partition's records are processed in offset order, the offset to
commit is one past the last record processed. A failed commit cannot tell which
record's write failed, so the stage re-reads everything since the last confirmed
commit: the tracker keeps, per partition, the first offset processed since then.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from slither_stream.log.record_batch import RecordBatch
from slither_stream.log.types import Record, TopicPartition


class _PartitionState:
    __slots__ = ("committed", "ready", "start")

    def __init__(self) -> None:
        self.start: int | None = None
        """First offset processed since the last confirmed commit (where to re-read
        from after a failed flush); None when everything processed is committed."""
        self.ready: int | None = None
        """One past the last record processed: what to commit once flushed."""
        self.committed: int | None = None
        """What the log confirmed as committed."""


class OffsetTracker:
    """Per-partition progress of finished batches. Not thread-safe: the owning
    stage loop calls it."""

    def __init__(self) -> None:
        self._partitions: dict[tuple[str, int], _PartitionState] = {}
        self._keys: dict[tuple[str, int], TopicPartition] = {}

    def finished(self, records: Sequence[Record]) -> None:
        """Note that ``records`` were processed and their writes produced. Records
        of one partition must arrive in increasing offset order, across calls too."""
        batch = RecordBatch.of(records)
        partitions = self._partitions
        firsts: dict[tuple[str, int], int] | None = None
        for key, offset in batch.last_offsets().items():
            state = partitions.get(key)
            if state is None:
                state = partitions[key] = _PartitionState()
                self._keys[key] = TopicPartition(*key)
            if state.ready is not None and offset < state.ready:
                raise ValueError(
                    f"offset {offset} of {key[0]}[{key[1]}] finished out of order "
                    f"(after {state.ready - 1})")
            if state.start is None:
                if firsts is None:
                    firsts = batch.first_offsets()
                state.start = firsts[key]
            state.ready = offset + 1

    def committable(self) -> dict[TopicPartition, int]:
        """Offsets to commit (next offset to read) where they are ahead of what was
        confirmed; valid once the writes of every finished record are acknowledged."""
        keys = self._keys
        return {keys[key]: state.ready for key, state in self._partitions.items()
                if state.ready is not None and state.ready != state.committed}

    def confirm(self, offsets: dict[TopicPartition, int]) -> None:
        """Record that ``offsets`` were committed."""
        for tp, offset in offsets.items():
            state = self._partitions.get(tp)
            if state is not None:
                state.committed = offset
                # Anything processed past a commit is re-read from the commit.
                state.start = None if state.ready == offset else offset

    def rewind_points(self) -> dict[TopicPartition, int]:
        """Where to re-read each partition from to process again everything since
        its last confirmed commit."""
        keys = self._keys
        return {keys[key]: state.start for key, state in self._partitions.items()
                if state.start is not None}

    def uncommitted(self) -> bool:
        """Whether records were processed since the last confirmed commit."""
        return any(state.start is not None for state in self._partitions.values())

    def forget(self, partitions: Iterable[TopicPartition]) -> None:
        """Drop state for partitions this member no longer owns, or re-reads."""
        for tp in partitions:
            self._partitions.pop(tp, None)
            self._keys.pop(tp, None)

    def reset(self) -> None:
        """Drop all state."""
        self._partitions.clear()
        self._keys.clear()
