"""Contiguous offset tracking: commit only past records that are completely done.

A record is *done* when every output it produced has been acknowledged by the log
(or it was skipped / dead-lettered and that write was acknowledged). Records finish
out of order (concurrent batches, async acknowledgements); the committable offset of
a partition is one past the longest done prefix of what was read, so a slow record
never lets a later offset be committed past it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

from slither_stream.log.types import TopicPartition


class _PartitionState:
    __slots__ = ("committed", "done", "pending", "ready", "sent")

    def __init__(self) -> None:
        self.pending: deque[int] = deque()
        self.done: set[int] = set()
        self.ready: int | None = None
        """One past the done prefix: what should be committed."""
        self.committed: int | None = None
        """What the log confirmed as committed."""
        self.sent: int | None = None
        """What was last sent in an asynchronous commit (not confirmed)."""


class OffsetTracker:
    """Per-partition record completion, for contiguous commits. Not thread-safe:
    the owning stage loop calls it (delivery callbacks run inside its flush)."""

    def __init__(self) -> None:
        self._partitions: dict[TopicPartition, _PartitionState] = {}

    def register(self, tp: TopicPartition, offset: int) -> None:
        """Note that ``offset`` was read; offsets of a partition arrive increasing."""
        state = self._partitions.setdefault(tp, _PartitionState())
        if state.pending and offset <= state.pending[-1]:
            raise ValueError(
                f"offset {offset} of {tp.topic}[{tp.partition}] registered out of order "
                f"(after {state.pending[-1]})"
            )
        state.pending.append(offset)

    def done(self, tp: TopicPartition, offset: int) -> None:
        """Mark ``offset`` finished. Unknown partitions (revoked meanwhile) are ignored."""
        state = self._partitions.get(tp)
        if state is not None:
            state.done.add(offset)

    def committable(self, *, resend: bool = True) -> dict[TopicPartition, int]:
        """Offsets to commit now (next offset to read) where they are ahead of what
        was confirmed; a commit that failed is offered again until confirmed.
        ``resend=False`` also leaves out offsets already sent asynchronously (the
        hot loop's commits); a synchronous commit offers them again, since an
        asynchronous commit's outcome is unknown."""
        result: dict[TopicPartition, int] = {}
        for tp, state in self._partitions.items():
            while state.pending and state.pending[0] in state.done:
                finished = state.pending.popleft()
                state.done.discard(finished)
                state.ready = finished + 1
            if state.ready is not None and state.ready != state.committed \
                    and (resend or state.ready != state.sent):
                result[tp] = state.ready
        return result

    def confirm(self, offsets: dict[TopicPartition, int]) -> None:
        """Record that ``offsets`` were committed."""
        for tp, offset in offsets.items():
            state = self._partitions.get(tp)
            if state is not None:
                state.committed = offset
                state.sent = offset

    def sent(self, offsets: dict[TopicPartition, int]) -> None:
        """Record that ``offsets`` were sent in an asynchronous commit."""
        for tp, offset in offsets.items():
            state = self._partitions.get(tp)
            if state is not None:
                state.sent = offset

    def unfinished(self) -> dict[TopicPartition, int]:
        """The first offset not yet done of every partition with records pending."""
        return {tp: state.pending[0] for tp, state in self._partitions.items()
                if state.pending}

    def position(self, tp: TopicPartition) -> int | None:
        """The first offset of ``tp`` not yet done (None when nothing is pending)."""
        state = self._partitions.get(tp)
        if state is None or not state.pending:
            return None
        return state.pending[0]

    def pending(self) -> int:
        """How many read records are not yet committable."""
        return sum(len(state.pending) for state in self._partitions.values())

    def forget(self, partitions: Iterable[TopicPartition]) -> None:
        """Drop state for partitions this member no longer owns."""
        for tp in partitions:
            self._partitions.pop(tp, None)

    def reset(self) -> None:
        """Drop all state (after a seek back for reprocessing)."""
        self._partitions.clear()
