"""exactly_once writing for a stage: one transaction per batch, and its recovery.

A batch's writes and its input offsets go into one transaction. When a transaction
fails (a rebalance made the group generation stale, the broker went away, the
producer replaced its client after a fatal error), nothing of it may be visible
twice and nothing may be lost, so the stage re-reads the batch's partitions from
the group's **committed** offsets rather than from where the batch started: after a
commit whose outcome is unknown (the broker died while committing) only the
coordinator knows whether the batch is done, and the committed offsets say it.

Failing transactions are retried as long as the failures go on for less than
:data:`GIVE_UP_AFTER_S` (a broker restart takes tens of seconds); past that, and
after at least :data:`MAX_TRANSACTION_FAILURES` attempts, the stage gives up and
raises, so its worker process is restarted by the supervisor.
"""

from __future__ import annotations

import logging
import threading
import time

from slither_stream.errors import LogError, TransactionError, TransactionInProgressError
from slither_stream.log.base import Consumer, Producer
from slither_stream.log.record_batch import RecordBatch
from slither_stream.log.types import TopicPartition
from slither_stream.pipe.engine.planning import PlannedBatch

_log = logging.getLogger(__name__)

MAX_TRANSACTION_FAILURES = 5
"""Failed transactions in a row before the stage may give up (see GIVE_UP_AFTER_S)."""

GIVE_UP_AFTER_S = 90.0
"""Seconds transactions may keep failing before the stage gives up (raises). Longer
than a broker restart; shorter than librdkafka's default transaction timeout plus
the coordinator's clean-up would make a stuck stage wait for nothing."""

RESYNC_RETRY_S = 1.0
"""Pause between two attempts to read the committed offsets after a failure."""


class TransactionalWriter:
    """Writes one stage's batches in transactions; used from the stage's thread.

    ``stop`` is the stage's stop event: it ends waits for an unreachable broker.
    """

    def __init__(self, stage: str, stop: threading.Event) -> None:
        self.stage = stage
        self._stop = stop
        self.failures = 0
        """Failed transactions in a row."""
        self._failing_since: float | None = None

    def write(self, producer: Producer, consumer: Consumer, batch: PlannedBatch) -> bool:
        """Write ``batch`` and commit the offsets of its done records in one
        transaction. True if it committed; False if nothing was done (the batch
        halted on its first record) or it failed and the consumer was moved back to
        re-read (raises once failures went on too long, see the module docstring)."""
        # Read from the batch's columns (a TopicPartition per record showed in
        # profiles); keyed by TopicPartition once per partition.
        starts = _keyed(RecordBatch.of(batch.records).first_offsets())
        try:
            producer.begin_transaction()
            producer.produce_many(batch)  # the batch is planned while it is produced
            offsets = _keyed({partition: offset + 1 for partition, offset
                              in RecordBatch.of(batch.done).last_offsets().items()})
            if not offsets:
                self._abort_quietly(producer)
                return False
            producer.send_offsets_to_transaction(consumer, offsets)
            self._commit(producer)
        except LogError as error:
            self._failed(error)
            self._abort_quietly(producer)
            self._rewind(consumer, starts)
            return False
        except BaseException:
            self._abort_quietly(producer)
            raise
        self.failures = 0
        self._failing_since = None
        return True

    def _failed(self, error: LogError) -> None:
        """Count a failed transaction; raise once the failures went on too long."""
        now = time.monotonic()
        if self._failing_since is None:
            self._failing_since = now
        self.failures += 1
        failing_for = now - self._failing_since
        _log.warning("stage %s: transaction aborted (%d in a row, for %.1f s), re-reading: %s",
                     self.stage, self.failures, failing_for, error)
        if self.failures >= MAX_TRANSACTION_FAILURES and failing_for >= GIVE_UP_AFTER_S:
            raise TransactionError(
                f"stage {self.stage!r}: {self.failures} transactions failed in a row over "
                f"{failing_for:.0f} s; giving up. Last error: {error}") from error

    def _commit(self, producer: Producer) -> None:
        """Commit; a commit still under way when its timeout passes (the broker is
        unreachable) is resumed, never aborted at once: whether it committed is
        unknown until it returns. Found by the reliability suite's broker restart.
        The resuming ends when the stage is asked to stop or after
        :data:`GIVE_UP_AFTER_S`; the transaction then counts as failed, and the
        committed offsets tell the re-read where to start."""
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

    def _rewind(self, consumer: Consumer, starts: dict[TopicPartition, int]) -> None:
        """Seek each of the batch's partitions still assigned here to the group's
        committed offset (where nothing was ever committed, to the batch's start:
        nothing before it is unfinished). Partitions revoked meanwhile are the next
        owner's, who starts from the committed offset too. Retries reading the
        offsets until it works or the stage stops: seeking to the batch's start on a
        guess could process a batch whose commit did go through a second time.
        Gives up (raises) after :data:`GIVE_UP_AFTER_S`."""
        deadline = time.monotonic() + GIVE_UP_AFTER_S
        while True:
            owned = consumer.assignment()
            mine = [tp for tp in starts if tp in owned]
            if not mine:
                return
            try:
                committed = consumer.committed(mine)
                break
            except LogError as error:
                if self._stop.is_set() or time.monotonic() >= deadline:
                    raise
                _log.warning("stage %s: cannot read committed offsets to re-read from, "
                             "retrying: %s", self.stage, error)
                self._stop.wait(RESYNC_RETRY_S)
        for tp in mine:
            offset = committed.get(tp)
            target = starts[tp] if offset is None else offset
            _log.info("stage %s: re-reading %s[%d] from %d", self.stage, tp.topic,
                      tp.partition, target)
            consumer.seek(tp, target)


def _keyed(offsets: dict[tuple[str, int], int]) -> dict[TopicPartition, int]:
    return {TopicPartition(*key): offset for key, offset in offsets.items()}
