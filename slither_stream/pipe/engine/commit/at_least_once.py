"""at_least_once: produce without per-record callbacks, flush and commit per interval.

A batch's writes are produced with no delivery report per record; a commit flushes
the producer (every write before it is acknowledged when the flush returns without
error), produces the buffered state writes to their changelogs and flushes again,
applies them to the stores, and then commits one past the last processed record of
each partition synchronously. So a record's offset is committed only once its
outputs and state writes are durable.

A flush that reports failed writes cannot say which records they belonged to, so
nothing since the last commit counts as done: the state writes and counts since
then are dropped and :meth:`AtLeastOnce.rewind` moves the consumer back to the last
committed offset of each partition it still owns, so every record since is read and
written again (duplicates, never losses). A crash between a flush and the offset
commit has the same effect. Revoked partitions are simply not committed; their next
owner starts from the last commit.
"""

from __future__ import annotations

import logging

from slither_stream.errors import AuthorizationError, LogError
from slither_stream.log.base import Consumer, Log, Producer
from slither_stream.pipe.engine.commit.base import CommitStrategy
from slither_stream.pipe.engine.planning import PlannedBatch

_log = logging.getLogger(__name__)


class AtLeastOnce(CommitStrategy):
    """The at_least_once commit strategy (see the module docstring)."""

    def producer(self, log: Log, member: str, group: str) -> Producer:
        # writes are confirmed by the flush before each commit: no report per record
        return log.producer(delivery_reports="errors")

    def write(self, producer: Producer, consumer: Consumer, batch: PlannedBatch) -> None:
        producer.produce_many(batch)
        self._finished(batch)

    def before_lag_check(self, producer: Producer, consumer: Consumer) -> None:
        """Flush (no commit): records still waiting for their acknowledgement are not
        in the downstream end offset yet, so the gate would let another batch
        through on top of them."""
        try:
            producer.flush()
        except LogError as error:
            self._writes_failed(error)

    def _writes_failed(self, error: LogError) -> None:
        """Nothing since the last commit counts as done: re-read it, or, when an ACL
        is missing (which re-reading cannot fix), raise with nothing committed."""
        self.needs_rewind = True
        self._forget_uncommitted()
        if isinstance(error, AuthorizationError):
            raise error
        _log.warning("stage %s: writes failed; re-reading everything since the last "
                     "commit: %s", self.stage, error)

    def commit(self, producer: Producer, consumer: Consumer) -> None:
        """Flush, write and apply the buffered state, then commit synchronously. A
        commit the group refuses (a rebalance is under way) is kept and sent again
        next time."""
        self._restart_cadence()
        buffer = self.buffer
        try:
            producer.flush()
            if buffer:
                for topic, partition, key, value in buffer.changelog():
                    producer.produce(topic, value, key, partition=partition)
                producer.flush()
        except LogError as error:
            self._writes_failed(error)
            return
        if self.needs_rewind:
            return  # the failed records are not re-read yet: committing would skip them
        if buffer:
            buffer.committed()
        self._counted()
        offsets = self.tracker.committable()
        if not offsets:
            return
        try:
            consumer.commit(offsets)
        except AuthorizationError:
            self.needs_rewind = True  # no commit on the way out either
            raise
        except LogError as error:
            _log.warning("stage %s: commit refused, will retry: %s", self.stage, error)
            return
        self.tracker.confirm(offsets)

    def rewind(self, consumer: Consumer) -> set[tuple[str, int]]:
        points = self.tracker.rewind_points()
        owned = consumer.assignment()
        self.tracker.reset()
        self.needs_rewind = False
        moved: set[tuple[str, int]] = set()
        for tp, offset in points.items():
            if tp not in owned:
                continue
            _log.warning("stage %s: re-reading %s[%d] from %d after failed writes",
                         self.stage, tp.topic, tp.partition, offset)
            consumer.seek(tp, offset)
            moved.add((tp.topic, tp.partition))
        return moved
