"""exactly_once: one transaction per commit interval, and its recovery.

The first write after a commit begins a transaction; every batch until the next
commit is produced into it. A commit produces the buffered state writes to their
changelogs inside the transaction, adds the input offsets of every finished record
(``send_offsets_to_transaction``), commits, and only then applies the state writes
to the stores (which therefore hold committed state only). Outputs, changelog
records and offsets become visible together or not at all.

When a transaction fails (a rebalance made the group generation stale, the broker
went away, the producer replaced its client after a fatal error), nothing of it may
be visible twice and nothing may be lost, so the stage drops its uncommitted state
and re-reads its partitions from the group's **committed** offsets rather than from
where the transaction started: after a commit whose outcome is unknown (the broker
died while committing) only the coordinator knows whether it went through, and the
committed offsets say it.

Failing transactions are retried as long as the failures go on for less than
:data:`GIVE_UP_AFTER_S` (a broker restart takes tens of seconds); past that, and
after at least :data:`MAX_TRANSACTION_FAILURES` attempts, the stage gives up and
raises, so its worker process is restarted by the supervisor.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence

from slither_stream.errors import (
    AuthorizationError,
    LogError,
    TransactionError,
    TransactionInProgressError,
)
from slither_stream.log.base import Consumer, Log, Producer
from slither_stream.log.record_batch import RecordBatch
from slither_stream.log.types import Record, TopicPartition
from slither_stream.pipe.engine.commit.base import CommitStrategy
from slither_stream.pipe.engine.planning import PlannedBatch
from slither_stream.pipe.engine.tally import Tally
from slither_stream.pipe.engine.write_buffer import WriteBuffer

_log = logging.getLogger(__name__)

MAX_TRANSACTION_FAILURES = 5
"""Failed transactions in a row before the stage may give up (see GIVE_UP_AFTER_S)."""

GIVE_UP_AFTER_S = 90.0
"""Seconds transactions may keep failing before the stage gives up (raises). Longer
than a broker restart; shorter than librdkafka's default transaction timeout plus
the coordinator's clean-up would make a stuck stage wait for nothing."""

RESYNC_RETRY_S = 1.0
"""Pause between two attempts to read the committed offsets after a failure."""


class ExactlyOnce(CommitStrategy):
    """The exactly_once commit strategy (see the module docstring). ``stop`` is the
    stage's stop event: it ends waits for an unreachable broker."""

    def __init__(self, stage: str, *, count: Callable[[Tally], None], buffer: WriteBuffer,
                 interval: float, records: int, stop: threading.Event) -> None:
        super().__init__(stage, count=count, buffer=buffer, interval=interval,
                         records=records)
        self._stop = stop
        self._open = False  # a transaction is under way
        self.failures = 0
        """Failed transactions in a row."""
        self._failing_since: float | None = None
        self._to_rewind: dict[TopicPartition, int] = {}
        """Per partition of a failed transaction, where its records started."""

    def producer(self, log: Log, member: str, group: str) -> Producer:
        # One transactional id per stage member: a restarted member fences its
        # predecessor's open transaction.
        return log.producer(transactional_id=f"{group}.{member}", delivery_reports="errors")

    def write(self, producer: Producer, consumer: Consumer, batch: PlannedBatch) -> None:
        if not self._open:
            self._begin(producer, consumer)
        if self.needs_rewind:
            self._rewind_later(batch.records)
            return
        try:
            producer.produce_many(batch)  # the batch is planned while it is produced
        except LogError as error:
            self._rewind_later(batch.records)
            self._failed(producer, error)
            return
        self._finished(batch)

    def commit(self, producer: Producer, consumer: Consumer) -> None:
        self._restart_cadence()
        if self.needs_rewind:
            return
        offsets = self.tracker.committable()
        if not self._open and not self.buffer:
            return
        try:
            if not self._open:
                self._begin(producer, consumer)
                if self.needs_rewind:
                    return
            buffer = self.buffer
            if buffer:
                for topic, partition, key, value in buffer.changelog():
                    producer.produce(topic, value, key, partition=partition)
            if offsets:
                producer.send_offsets_to_transaction(consumer, offsets)
            self._commit(producer)
        except LogError as error:
            self._failed(producer, error)
            return
        except BaseException:
            self._open = False
            self._abort_quietly(producer)
            raise
        self._open = False
        self.failures = 0
        self._failing_since = None
        if self.buffer:
            self.buffer.committed()
        self._counted()
        if offsets:
            self.tracker.confirm(offsets)

    def rewind(self, consumer: Consumer) -> set[tuple[str, int]]:
        """Seek each partition of the failed transaction still assigned here to the
        group's committed offset (where nothing was ever committed, to where its
        records started: nothing before them is unfinished). Partitions revoked
        meanwhile are the next owner's, who starts from the committed offset too.
        Retries reading the offsets until it works or the stage stops: seeking on a
        guess could process records whose commit did go through a second time.
        Gives up (raises) after :data:`GIVE_UP_AFTER_S`."""
        starts, self._to_rewind = self._to_rewind, {}
        self.needs_rewind = False
        self.tracker.reset()
        deadline = time.monotonic() + GIVE_UP_AFTER_S
        while True:
            owned = consumer.assignment()
            mine = [tp for tp in starts if tp in owned]
            if not mine:
                return set()
            try:
                committed = consumer.committed(mine)
                break
            except LogError as error:
                if self._stop.is_set() or time.monotonic() >= deadline:
                    raise
                _log.warning("stage %s: cannot read committed offsets to re-read from, "
                             "retrying: %s", self.stage, error)
                self._stop.wait(RESYNC_RETRY_S)
        moved: set[tuple[str, int]] = set()
        for tp in mine:
            offset = committed.get(tp)
            target = starts[tp] if offset is None else offset
            _log.info("stage %s: re-reading %s[%d] from %d", self.stage, tp.topic,
                      tp.partition, target)
            consumer.seek(tp, target)
            moved.add((tp.topic, tp.partition))
        return moved

    # -- internals ------------------------------------------------------------------

    def _rewind_later(self, records: Sequence[Record]) -> None:
        """Re-read ``records`` (not produced: their transaction failed) too."""
        for (topic, partition), first in RecordBatch.of(records).first_offsets().items():
            self._to_rewind.setdefault(TopicPartition(topic, partition), first)

    def _begin(self, producer: Producer, consumer: Consumer) -> None:
        try:
            producer.begin_transaction()
        except LogError as error:
            self._failed(producer, error)
            return
        self._open = True

    def _failed(self, producer: Producer, error: LogError) -> None:
        """Abort, drop what the transaction held, and mark the stage for a rewind;
        raise once the failures went on too long."""
        self._open = False
        self._abort_quietly(producer)
        for tp, start in self.tracker.rewind_points().items():
            self._to_rewind.setdefault(tp, start)
        self._forget_uncommitted()
        self.needs_rewind = True
        now = time.monotonic()
        if self._failing_since is None:
            self._failing_since = now
        self.failures += 1
        failing_for = now - self._failing_since
        if isinstance(error, AuthorizationError):
            raise error  # aborted, nothing committed; an operator must add the ACL
        _log.warning("stage %s: transaction aborted (%d in a row, for %.1f s), re-reading: %s",
                     self.stage, self.failures, failing_for, error)
        if self.failures >= MAX_TRANSACTION_FAILURES and failing_for >= GIVE_UP_AFTER_S:
            raise TransactionError(
                f"stage {self.stage!r}: {self.failures} transactions failed in a row over "
                f"{failing_for:.0f} s; giving up. Last error: {error}") from error

    def _commit(self, producer: Producer) -> None:
        """Commit; a commit still under way when its timeout passes (the broker is
        unreachable) is resumed, never aborted at once: whether it committed is
        unknown until it returns. The resuming ends when the stage is asked to stop
        or after :data:`GIVE_UP_AFTER_S`; the transaction then counts as failed, and
        the committed offsets tell the re-read where to start."""
        deadline = time.monotonic() + GIVE_UP_AFTER_S
        while True:
            try:
                producer.commit_transaction()
                return
            except TransactionInProgressError as error:
                if self._stop.is_set() or time.monotonic() >= deadline:
                    raise
                _log.warning("stage %s: transaction commit still in progress, resuming: %s",
                             self.stage, error)

    def _abort_quietly(self, producer: Producer) -> None:
        try:
            producer.abort_transaction()
        except LogError as error:
            _log.warning("stage %s: abort failed: %s", self.stage, error)

    def close(self, producer: Producer) -> None:
        """Abort a transaction left open (a stop that could not commit)."""
        if self._open:
            self._open = False
            self._abort_quietly(producer)
