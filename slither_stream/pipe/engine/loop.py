"""One stage on the log: a consumer-group member that reads, processes, writes, commits.

The loop, per polled batch (records of several partitions, each in offset order):

1. decode records into items (undecodable records go to the dead-letter topic);
2. run the stage's processor, retrying failed items as the error policy says;
3. produce every outcome (next stage's topic, a pipe output, or the dead-letter
   topic), in input order, keyed by the item key so per-key order is kept
   (under at_least_once, a stage whose processor works one item at a time does 2
   and 3 per record, see :mod:`slither_stream.pipe.engine.planning`);
4. commit offsets — only once every write before them is acknowledged
   (at_least_once), or inside one transaction with the writes (exactly_once).

at_least_once commits on a cadence (every ``commit_interval`` seconds or
``commit_records`` records): the stage flushes its producer, then commits one past
the last processed record of each partition. It also settles (flush, then commit)
on an empty poll, when it halts, before partitions are revoked, and when it stops;
see :mod:`slither_stream.pipe.engine.commit.at_least_once`. After failed writes the stage re-reads
everything since the last commit (the consumer seeks back), so nothing is
lost. ``halt`` stops the stage after committing up to the last good record and
raises :class:`PipeError`. Backpressure: before each poll the stage asks its
:class:`LagGate` whether the next stage lags too much, and pauses its partitions
until it does not. The loop is synchronous, so when a rebalance revokes partitions
(inside ``poll_batch``) every finished record is already committed.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from slither_stream import telemetry
from slither_stream.context import Context
from slither_stream.errors import (
    PipeError,
    SerializationError,
)
from slither_stream.item import Item
from slither_stream.log.base import Consumer, Log, Producer
from slither_stream.log.record_batch import RecordBatch
from slither_stream.log.types import TopicPartition
from slither_stream.pipe import state
from slither_stream.pipe.definition import PipeDefinition, StagePlan
from slither_stream.pipe.engine.backpressure import LagGate
from slither_stream.pipe.engine.commit.at_least_once import (
    DEFAULT_COMMIT_INTERVAL,
    DEFAULT_COMMIT_RECORDS,
    AtLeastOnceWriter,
)
from slither_stream.pipe.engine.commit.exactly_once import TransactionalWriter
from slither_stream.pipe.engine.envelope import Envelope
from slither_stream.pipe.engine.planning import BatchWrites, emit_targets
from slither_stream.pipe.engine.processors import StageProcessor, processor_for
from slither_stream.pipe.engine.tally import Tally
from slither_stream.pipe.results import Failure, Outcome

_log = logging.getLogger(__name__)


class StageHaltedError(PipeError):
    """A stage stopped under the ``halt`` policy; names the record it stopped at
    (offsets are committed up to the record before it)."""

    def __init__(self, message: str, *, stage: str, topic: str, partition: int,
                 offset: int) -> None:
        self.stage = stage
        self.topic = topic
        self.partition = partition
        self.offset = offset
        super().__init__(message)


@dataclass
class StageStats:
    """Counters a runner or operator reads to follow a stage (guarded by ``lock``)."""

    consumed: int = 0
    forwarded: int = 0
    skipped: int = 0
    dead_lettered: int = 0
    outputs: dict[str, int] = field(default_factory=dict)
    idle: bool = False
    batches: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)


class StageRuntime:
    """Runs one stage of ``definition`` as a member of the stage's consumer group.

    ``run()`` blocks until :meth:`stop` is called (then it drains: the batch in
    hand finishes, is committed, and the clients close) or the stage halts (then it
    raises :class:`PipeError`). ``on_progress`` is called after every batch and every
    empty poll, from the stage's thread. ``lag_interval`` is how often (seconds) the
    downstream lag is measured for backpressure; a stage overshoots ``max_lag`` by at
    most what it writes in that time. ``commit_interval`` / ``commit_records`` set
    the at_least_once commit cadence (see :mod:`slither_stream.pipe.engine.commit.at_least_once`).
    """

    def __init__(
        self,
        log: Log,
        definition: PipeDefinition,
        stage: str,
        *,
        context: Context | None = None,
        member: str = "0",
        poll_timeout: float = 0.1,
        on_progress: Callable[[StageRuntime], None] | None = None,
        envelope: Envelope | None = None,
        lag_interval: float = 0.2,
        commit_interval: float = DEFAULT_COMMIT_INTERVAL,
        commit_records: int = DEFAULT_COMMIT_RECORDS,
    ) -> None:
        self.log = log
        self.definition = definition
        self.plan: StagePlan = definition.stage(stage)
        base = context or Context(pipe=definition.name)
        self.context = base.for_stage(stage)
        self.member = member
        self.poll_timeout = poll_timeout
        self.on_progress = on_progress
        self.envelope = envelope or Envelope()
        """The pipe's internal format, on topics between stages."""
        # Per-topic serdes are resolved here, once: the input's (the pipe input of
        # the first stage may be Avro) and every output's (a router writes several).
        self.input_envelope = (definition.envelope(self.plan.input_topic)
                               if self.plan.index == 0 else self.envelope)
        self._targets = emit_targets(definition, self.plan, self.envelope)
        self.stats = StageStats()
        self.exactly_once = definition.delivery == "exactly_once"
        self._stop = threading.Event()
        self._writer = AtLeastOnceWriter(
            stage, self._add_tally, commit_interval=commit_interval,
            commit_records=commit_records)
        self.gate: LagGate | None = None
        if self.plan.downstream_group is not None and self.plan.downstream_topic is not None:
            self.gate = LagGate(
                log, pipe=definition.name, stage=stage,
                downstream_group=self.plan.downstream_group,
                downstream_topic=self.plan.downstream_topic,
                max_lag=self.plan.max_lag, resume_lag=definition.resume_lag_for(self.plan),
                interval=lag_interval,
            )
        self._consumer: Consumer | None = None
        self._producer: Producer | None = None
        self._processor: StageProcessor | None = None
        self._one_at_a_time: Callable[[Item], Any] | None = None
        """The processor's per-item function, if it has one (not under exactly_once,
        where each item's store writes are buffered while the batch is processed)."""
        self._since_idle = 0
        self._transactions = TransactionalWriter(stage, self._stop)
        self._revoked_in_poll: set[TopicPartition] = set()

    # -- lifecycle ----------------------------------------------------------------

    @property
    def name(self) -> str:
        return self.plan.name

    @property
    def poll_size(self) -> int:
        """Records per poll: one batch, or ``max_in_flight`` batches for compute."""
        spec = self.plan.spec
        if spec.kind == "compute":
            return spec.batch_size * int(spec.option("max_in_flight", 4))
        return spec.batch_size

    def stop(self) -> None:
        """Ask the loop to finish the batch in hand, commit, and return."""
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def run(self) -> None:
        """The stage loop (blocks; see the class docstring)."""
        transactional_id = (f"{self.plan.group}.{self.member}" if self.exactly_once else None)
        try:
            self._processor = processor_for(self.plan)
            if not self.exactly_once:
                self._one_at_a_time = self._processor.one_at_a_time(self.context)
            # Writes are confirmed by flush (at_least_once) or by the transaction's
            # commit: no delivery report per record.
            self._producer = self.log.producer(transactional_id=transactional_id,
                                               delivery_reports="errors")
            self._consumer = self.log.consumer(self.plan.group, auto_offset_reset="earliest")
            self._consumer.subscribe([self.plan.input_topic], on_revoke=self._on_revoke)
            while not self._stop.is_set():
                self._apply_backpressure()
                self._revoked_in_poll.clear()
                records = self._consumer.poll_records(self.poll_size, self.poll_timeout)
                if self._revoked_in_poll:
                    records = self._drop_revoked(records)
                if self._writer.failed:
                    records = self._rewind(records)
                if records:
                    with self.stats.lock:
                        self.stats.idle = False
                    self._since_idle += len(records)
                    self._handle(records)
                else:
                    if not self.exactly_once:
                        self._writer.settle(self._producer, self._consumer)
                    with self.stats.lock:
                        self.stats.idle = not self._writer.uncommitted
                    if self._since_idle and self.stats.idle:
                        _log.info("stage %s (member %s, pid %d) caught up after %d records",
                                  self.name, self.member, os.getpid(), self._since_idle)
                        self._since_idle = 0
                self._progress()
        finally:
            self._close()

    def _close(self) -> None:
        consumer, producer, processor = self._consumer, self._producer, self._processor
        self._consumer = self._producer = self._processor = None
        try:
            if consumer is not None and producer is not None and not self.exactly_once:
                self._writer.settle(producer, consumer)
        finally:
            if processor is not None:
                processor.close()
            if producer is not None:
                producer.close()
            if consumer is not None:
                consumer.close()

    def _progress(self) -> None:
        if self.on_progress is not None:
            self.on_progress(self)

    # -- backpressure and rebalance --------------------------------------------------

    def _apply_backpressure(self) -> None:
        if self.gate is None or self._consumer is None:
            return
        if self.gate.due() and self._producer is not None and not self.exactly_once:
            # Measure what this stage has really written: records still waiting for
            # their acknowledgement are not in the downstream end offset yet, so the
            # gate would let another batch through on top of them (a pipelined stage
            # overshot max_lag by two batches instead of one).
            self._writer.settle(self._producer, self._consumer)
        was_closed = self.gate.closed
        closed = self.gate.update()
        assignment = self._consumer.assignment()
        if closed and (not was_closed or self._consumer.paused() != assignment):
            self._consumer.pause(assignment)
        elif was_closed and not closed:
            self._consumer.resume(self._consumer.paused())

    def _on_revoke(self, partitions: list[TopicPartition]) -> None:
        """Wait for the writes in flight, commit what is finished, then forget the
        revoked partitions. (After failed writes nothing is committed; the
        still-owned partitions are re-read after the poll.)"""
        consumer, producer = self._consumer, self._producer
        if consumer is not None and producer is not None and not self.exactly_once:
            self._writer.revoke(producer, consumer, partitions)
        self._revoked_in_poll.update(partitions)

    def _drop_revoked(self, records: RecordBatch) -> RecordBatch:
        """Records of partitions revoked during the poll that fetched them belong to
        the partitions' next owner (it starts from our committed offset): processing
        them here would duplicate them. A partition revoked and assigned back in the
        same poll restarts from the committed offset too, so its records go as well."""
        revoked = self._revoked_in_poll
        kept = records.where(lambda topic, partition:
                             TopicPartition(topic, partition) not in revoked)
        if len(kept) != len(records):
            _log.info("stage %s: dropped %d records of partitions revoked while polling",
                      self.name, len(records) - len(kept))
        return kept

    def _rewind(self, records: RecordBatch) -> RecordBatch:
        """After failed writes: seek back to the last commit of every owned
        partition; records in hand of those partitions are read again, so drop them."""
        assert self._consumer is not None
        moved = self._writer.rewind(self._consumer)
        return records.where(lambda topic, partition: (topic, partition) not in moved)

    # -- one batch ------------------------------------------------------------------

    def _handle(self, records: RecordBatch) -> None:
        assert self._processor is not None and self._consumer is not None
        assert self._producer is not None
        with telemetry.span(telemetry.PIPE_STAGE, {
            "pipe": self.definition.name, "stage": self.name, "type": self.plan.kind,
            "batch_size": len(records),
        }) as span_meta:
            batch = self._process(records)
            if self.exactly_once:
                if self._transactions.write(self._producer, self._consumer, batch):
                    self._add_tally(batch.tally)
            else:
                self._writer.write(self._producer, self._consumer, batch)
                if batch.halted is not None:  # commit up to the last good record
                    self._writer.settle(self._producer, self._consumer)
            tally = batch.tally
            span_meta["dead_lettered"] = tally.dead_lettered
            span_meta["records_out"] = tally.forwarded + sum(tally.outputs.values())
        with self.stats.lock:
            self.stats.batches += 1
        if batch.halted is not None:
            record, failure = batch.halted
            self._stop.set()
            raise StageHaltedError(
                f"stage {self.name!r} of pipe {self.definition.name!r} halted on record "
                f"{record.topic}[{record.partition}]@{record.offset}: "
                f"{failure.error_type}: {failure.message}",
                stage=self.name, topic=record.topic, partition=record.partition,
                offset=record.offset,
            )

    def _process(self, records: RecordBatch) -> BatchWrites:
        """Decode ``records`` and process their items, or plan to process each as
        the writer produces the batch (see :mod:`slither_stream.pipe.engine.planning`)."""
        assert self._processor is not None
        decoded = self.input_envelope.decode_many(records)
        if self._one_at_a_time is not None:
            return BatchWrites(self.plan, self._targets, records, decoded,
                               process_one=self._one_at_a_time)
        items = [None if isinstance(item, SerializationError) else item for item in decoded]
        if not self.exactly_once:
            outcomes, attempts = self._process_with_retries(items)
            return BatchWrites(self.plan, self._targets, records, decoded,
                               outcomes=outcomes, attempts=attempts)
        # exactly_once: each item's store writes join the batch's transaction.
        buffer = state.WriteBuffer()
        with state.buffering(buffer):
            outcomes, attempts = self._process_with_retries(items)
        return BatchWrites(self.plan, self._targets, records, decoded, outcomes=outcomes,
                           attempts=attempts, buffer=buffer)

    def _process_with_retries(
        self, items: Sequence[Item | None]
    ) -> tuple[list[Outcome | None], list[int]]:
        assert self._processor is not None
        outcomes: list[Outcome | None] = [None] * len(items)
        attempts = [0] * len(items)
        todo = [position for position, item in enumerate(items) if item is not None]
        for _attempt in range(self.plan.policy.attempts):
            if not todo:
                break
            batch = [items[position] for position in todo]
            results = self._processor.process([i for i in batch if i is not None], self.context)
            if len(results) != len(todo):
                raise PipeError(f"stage {self.name!r}: processor returned {len(results)} "
                                f"outcomes for {len(todo)} items")
            for position, outcome in zip(todo, results, strict=True):
                outcomes[position] = outcome
                attempts[position] += 1
            todo = [position for position, outcome in zip(todo, results, strict=True)
                    if isinstance(outcome, Failure)]
        return outcomes, attempts

    def _add_tally(self, tally: Tally) -> None:
        with self.stats.lock:
            tally.add_to(self.stats)
