"""The commit strategy seam: what the stage loop asks of a delivery mode.

The loop hands every processed batch to :meth:`CommitStrategy.write` and calls
:meth:`CommitStrategy.commit` when :meth:`CommitStrategy.due` says so, when it runs
out of input, before it halts and when it stops; a rebalance calls
:meth:`CommitStrategy.revoke` from inside the poll. A commit makes durable, in this
order: the batches' writes, the state writes buffered since the last commit (their
changelog records, then the stores), and the input offsets of every finished
record. Both strategies commit on the same cadence, an interval or a number of
records, whichever comes first.

A failed commit is never half visible: the strategy drops what was not committed
(state buffer, counts) and, at the loop's next :meth:`CommitStrategy.rewind`, moves
the consumer back to the last committed offsets, so every record since is read
and processed again.

Strategies are used from the stage's thread only (rebalance callbacks run inside
the poll, on that thread).
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable

from slither_stream.log.base import Consumer, Log, Producer
from slither_stream.log.types import TopicPartition
from slither_stream.pipe.engine.offsets import OffsetTracker
from slither_stream.pipe.engine.planning import PlannedBatch
from slither_stream.pipe.engine.tally import Tally
from slither_stream.pipe.engine.write_buffer import WriteBuffer


class CommitStrategy(ABC):
    """Writes one stage's batches and commits them; one instance per stage run.

    ``count`` receives the tally of records once they are committed; ``buffer`` is
    the stage's state write buffer; ``interval`` (seconds) and ``records`` set the
    cadence of :meth:`due`.
    """

    def __init__(self, stage: str, *, count: Callable[[Tally], None], buffer: WriteBuffer,
                 interval: float, records: int) -> None:
        if isinstance(interval, bool) or not isinstance(interval, int | float) \
                or interval < 0:
            raise ValueError(f"commit interval must be a non-negative number of seconds, "
                             f"got {interval!r}")
        if isinstance(records, bool) or not isinstance(records, int) or records < 1:
            raise ValueError(f"commit records must be a positive integer, got {records!r}")
        self.stage = stage
        self.interval = float(interval)
        self.records = records
        self.buffer = buffer
        self.tracker = OffsetTracker()
        self._count = count
        self._tally = Tally()  # finished records since the last commit
        self._since = 0  # finished records since the last commit
        self._due = time.monotonic() + self.interval
        self.needs_rewind = False
        """A commit failed: :meth:`rewind` before processing more."""

    # -- what the loop calls --------------------------------------------------------

    @abstractmethod
    def producer(self, log: Log, member: str, group: str) -> Producer:
        """Make the stage's producer (the strategy knows what kind it needs)."""

    @abstractmethod
    def write(self, producer: Producer, consumer: Consumer, batch: PlannedBatch) -> None:
        """Produce ``batch``'s writes and note its finished records."""

    def due(self) -> bool:
        """Whether the interval is over or enough records finished to commit."""
        return self._since >= self.records or time.monotonic() >= self._due

    @abstractmethod
    def commit(self, producer: Producer, consumer: Consumer) -> None:
        """Make everything written durable and commit the input offsets (see the
        module docstring); a failure sets :attr:`needs_rewind` instead of raising,
        unless failures went on too long."""

    def revoke(self, producer: Producer, consumer: Consumer,
               partitions: Iterable[TopicPartition]) -> None:
        """Before ``partitions`` go to another member: commit, then forget them."""
        self.commit(producer, consumer)
        self.tracker.forget(partitions)

    @abstractmethod
    def rewind(self, consumer: Consumer) -> set[tuple[str, int]]:
        """After a failed commit: seek every partition still owned back to its last
        committed offset. Returns the partitions moved, whose records in hand must
        be dropped (they are read again)."""

    def close(self, producer: Producer) -> None:
        """The stage stops (after its last commit); release what is still open."""
        return None

    def before_lag_check(self, producer: Producer, consumer: Consumer) -> None:
        """Called before the stage measures its downstream lag (nothing by default)."""
        return None

    @property
    def uncommitted(self) -> bool:
        """Whether records were processed since the last commit."""
        return self.tracker.uncommitted()

    # -- for the strategies -----------------------------------------------------------

    def _finished(self, batch: PlannedBatch) -> None:
        """Note ``batch``'s finished records (after its writes were produced)."""
        done = batch.done
        if done:
            self.tracker.finished(done)
            batch.tally.add_to(self._tally)
            self._since += len(done)

    def _restart_cadence(self) -> None:
        self._since = 0
        self._due = time.monotonic() + self.interval

    def _counted(self) -> None:
        """The records since the last commit are committed: report their tally."""
        tally, self._tally = self._tally, Tally()
        if tally.consumed:
            self._count(tally)

    def _forget_uncommitted(self) -> None:
        """The records since the last commit will be read again: drop their state
        writes and counts."""
        self.buffer.discard()
        self._tally = Tally()
        self._restart_cadence()
