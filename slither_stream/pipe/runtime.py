"""One stage on the log: a consumer-group member that reads, processes, writes, commits.

The loop, per polled batch (records of several partitions, each in offset order):

1. decode records into items (undecodable records go to the dead-letter topic);
2. run the stage's processor, retrying failed items as the error policy says;
3. produce every outcome (next stage's topic, a pipe output, or the dead-letter
   topic), in input order, keyed by the item key so per-key order is kept;
4. commit offsets — only for records whose writes were all acknowledged, and only
   contiguously per partition (at_least_once), or inside one transaction with the
   writes (exactly_once).

at_least_once is pipelined: a batch's acknowledgements arrive while the next batch
is polled and processed, and the acknowledged prefix is committed asynchronously
after each batch. The stage waits for every acknowledgement and commits
synchronously ("settles") when a write failed, when more than
``MAX_UNACKED_BATCHES`` polls of records are unacknowledged, on an empty poll, when
it halts, before partitions are revoked, and when it stops. (Profiled: waiting
for the flush and a synchronous commit after every batch left the stage idle for
about a fifth of a passthrough's wall time.)

Records whose writes failed are read again (the consumer seeks back), so nothing is
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

from slither_stream import telemetry
from slither_stream.context import Context
from slither_stream.errors import (
    LogError,
    PipeError,
    SerializationError,
    TransactionInProgressError,
)
from slither_stream.item import Item
from slither_stream.log.base import Consumer, Log, Producer
from slither_stream.log.types import Headers, Record, RecordMetadata, TopicPartition
from slither_stream.pipe import state
from slither_stream.pipe.backpressure import LagGate
from slither_stream.pipe.definition import PipeDefinition, StagePlan
from slither_stream.pipe.dlq import dead_letter_headers
from slither_stream.pipe.envelope import Envelope
from slither_stream.pipe.offsets import OffsetTracker
from slither_stream.pipe.results import Emit, Failure, Outcome, Skip
from slither_stream.pipe.stages import StageProcessor, processor_for

_log = logging.getLogger(__name__)

MAX_TRANSACTION_FAILURES = 5
"""Consecutive aborted transactions after which the stage gives up (raises)."""

MAX_UNACKED_BATCHES = 4
"""at_least_once: polls' worth of unacknowledged records after which the stage
waits for the acknowledgements before polling again (bounds re-reads after a
failed write and the memory of records in flight)."""


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


@dataclass
class _Write:
    """One record to produce for one input record."""

    topic: str
    key: bytes | None
    value: bytes | None
    headers: Headers
    output: str | None = None  # pipe output name, for the counters
    forward: bool = False      # goes to the next stage
    store: bool = False        # a store changelog write (exactly_once)


class StageRuntime:
    """Runs one stage of ``definition`` as a member of the stage's consumer group.

    ``run()`` blocks until :meth:`stop` is called (then it drains: the batch in
    hand finishes, is committed, and the clients close) or the stage halts (then it
    raises :class:`PipeError`). ``on_progress`` is called after every batch and every
    empty poll, from the stage's thread. ``lag_interval`` is how often (seconds) the
    downstream lag is measured for backpressure; a stage overshoots ``max_lag`` by at
    most what it writes in that time.
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
        self._output_envelopes = {name: definition.envelope(topic)
                                  for name, topic in definition.output_topics.items()}
        self.stats = StageStats()
        self.exactly_once = definition.delivery == "exactly_once"
        self._stop = threading.Event()
        self._ack_lock = threading.Lock()
        self._tracker = OffsetTracker()
        self._failed_writes: set[tuple[TopicPartition, int]] = set()
        self._acked: list[list[_Write]] = []
        """Writes of records done since the last commit, counted at the commit."""
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
        self._since_idle = 0
        self._transaction_failures = 0
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
            self._producer = self.log.producer(transactional_id=transactional_id)
            self._consumer = self.log.consumer(self.plan.group, auto_offset_reset="earliest")
            self._consumer.subscribe([self.plan.input_topic], on_revoke=self._on_revoke)
            while not self._stop.is_set():
                self._apply_backpressure()
                self._revoked_in_poll.clear()
                records = self._consumer.poll_batch(self.poll_size, self.poll_timeout)
                if self._revoked_in_poll:
                    records = self._drop_revoked(records)
                    if self._failed_writes:
                        self._settle()
                if records:
                    with self.stats.lock:
                        self.stats.idle = False
                    self._since_idle += len(records)
                    self._handle(records)
                else:
                    if not self.exactly_once:
                        self._settle()
                    with self.stats.lock:
                        self.stats.idle = self._tracker.pending() == 0
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
            if consumer is not None and not self.exactly_once:
                self._flush_quietly(producer)
                self._commit(consumer)
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
            self._producer.flush()
        was_closed = self.gate.closed
        closed = self.gate.update()
        assignment = self._consumer.assignment()
        if closed and (not was_closed or self._consumer.paused() != assignment):
            self._consumer.pause(assignment)
        elif was_closed and not closed:
            self._consumer.resume(self._consumer.paused())

    def _on_revoke(self, partitions: list[TopicPartition]) -> None:
        """Wait for the writes in flight, commit what is finished for the revoked
        partitions, then forget them. (Records of still-owned partitions whose
        writes failed are re-read by the settle after the poll.)"""
        consumer = self._consumer
        if consumer is not None and not self.exactly_once:
            self._flush_quietly(self._producer)
            self._commit(consumer)
        self._tracker.forget(partitions)
        self._revoked_in_poll.update(partitions)

    def _drop_revoked(self, records: list[Record]) -> list[Record]:
        """Records of partitions revoked during the poll that fetched them belong to
        the partitions' next owner (it starts from our committed offset): processing
        them here would duplicate them. A partition revoked and assigned back in the
        same poll restarts from the committed offset too, so its records go as well."""
        kept = [r for r in records if r.topic_partition not in self._revoked_in_poll]
        if len(kept) != len(records):
            _log.info("stage %s: dropped %d records of partitions revoked while polling",
                      self.name, len(records) - len(kept))
        return kept

    # -- one batch ------------------------------------------------------------------

    def _handle(self, records: list[Record]) -> None:
        assert self._processor is not None and self._consumer is not None
        with telemetry.span(telemetry.PIPE_STAGE, {
            "pipe": self.definition.name, "stage": self.name, "type": self.plan.kind,
            "batch_size": len(records),
        }) as span_meta:
            writes, halted = self._plan_writes(records)
            dead = sum(1 for group in writes for write in group
                       if write.topic == self.plan.dlq_topic)
            span_meta["dead_lettered"] = dead
            span_meta["records_out"] = sum(len(group) for group in writes) - dead
            if self.exactly_once:
                self._write_transaction(records, writes, halted)
            else:
                self._write_and_commit(records, writes, halted)
        with self.stats.lock:
            self.stats.batches += 1
        if halted is not None:
            record, failure = halted
            self._stop.set()
            raise StageHaltedError(
                f"stage {self.name!r} of pipe {self.definition.name!r} halted on record "
                f"{record.topic}[{record.partition}]@{record.offset}: "
                f"{failure.error_type}: {failure.message}",
                stage=self.name, topic=record.topic, partition=record.partition,
                offset=record.offset,
            )

    def _plan_writes(
        self, records: list[Record]
    ) -> tuple[list[list[_Write]], tuple[Record, Failure] | None]:
        """Decide, per record, what to write. Stops at the first record that halts."""
        items: list[Item | None] = []
        decode_errors: dict[int, SerializationError] = {}
        for position, decoded in enumerate(self.input_envelope.decode_many(records)):
            if isinstance(decoded, SerializationError):
                items.append(None)
                decode_errors[position] = decoded
            else:
                items.append(decoded)
        buffer = state.WriteBuffer()
        if self.exactly_once:
            with state.buffering(buffer):
                outcomes, attempts = self._process_with_retries(items)
        else:
            outcomes, attempts = self._process_with_retries(items)
        writes: list[list[_Write]] = []
        for position, record in enumerate(records):
            if position in decode_errors:
                reason = str(decode_errors[position])
                writes.append([self._dead_letter(record, "SerializationError", reason, 1)])
                continue
            outcome = outcomes[position]
            stored = [_Write(w.topic, w.key, w.value, (), store=True)
                      for w in buffer.writes_of(items[position])]
            if isinstance(outcome, Emit):
                routed = self._emit_writes(outcome)
                if isinstance(routed, Failure):
                    outcome = routed
                else:
                    writes.append(routed + stored)
                    continue
            if isinstance(outcome, Skip):
                writes.append(stored)
                continue
            assert isinstance(outcome, Failure)
            final = self.plan.policy.final
            if final == "halt":
                return writes, (record, outcome)
            if final == "skip":
                _log.info("stage %s skipped %s[%d]@%d after %s: %s", self.name, record.topic,
                          record.partition, record.offset, outcome.error_type, outcome.message)
                writes.append([])
            else:
                writes.append([self._dead_letter(record, outcome.error_type, outcome.message,
                                                 attempts[position])])
        return writes, None

    def _process_with_retries(
        self, items: Sequence[Item | None]
    ) -> tuple[list[Outcome | None], list[int]]:
        assert self._processor is not None
        present = [position for position, item in enumerate(items) if item is not None]
        outcomes: list[Outcome | None] = [None] * len(items)
        attempts = [0] * len(items)
        todo = present
        for _attempt in range(self.plan.policy.attempts):
            if not todo:
                break
            batch = [items[position] for position in todo]
            results = self._processor.process([i for i in batch if i is not None], self.context)
            retry: list[int] = []
            for position, outcome in zip(todo, results, strict=True):
                outcomes[position] = outcome
                attempts[position] += 1
                if isinstance(outcome, Failure):
                    retry.append(position)
            todo = retry
        return outcomes, attempts

    def _emit_writes(self, outcome: Emit) -> list[_Write] | Failure:
        writes = []
        for item in outcome.items:
            if outcome.output is not None:
                if outcome.output not in self.definition.outputs:
                    return Failure(
                        "StageError",
                        f"stage {self.name!r} routed to undeclared output {outcome.output!r}",
                    )
                topic = self.definition.output_topic(outcome.output)
                envelope = self._output_envelopes[outcome.output]
            else:
                assert self.plan.next_topic is not None
                topic = self.plan.next_topic
                envelope = (self.envelope if self.plan.downstream_topic is not None
                            else self._output_envelopes["default"])
            try:
                key, value, headers = envelope.encode(item)
            except SerializationError as error:
                return Failure("SerializationError", f"output topic {topic}: {error}")
            forward = outcome.output is None and self.plan.downstream_topic is not None
            output = outcome.output
            if outcome.output is None and self.plan.downstream_topic is None:
                output = "default"
            writes.append(_Write(topic, key, value, headers, output=output, forward=forward))
        return writes

    def _dead_letter(self, record: Record, error_type: str, message: str,
                     attempts: int) -> _Write:
        headers = dead_letter_headers(record, stage=self.name, error_type=error_type,
                                      message=message, attempts=attempts)
        return _Write(self.plan.dlq_topic, record.key, record.value, headers)

    # -- writing and committing -------------------------------------------------------

    def _write_and_commit(self, records: list[Record],
                          writes: list[list[_Write]],
                          halted: tuple[Record, Failure] | None) -> None:
        """at_least_once: produce, then commit the acknowledged contiguous prefix
        asynchronously, or settle (see the module docstring)."""
        assert self._producer is not None and self._consumer is not None
        tracker = self._tracker
        partitions = [record.topic_partition for record in records]
        with self._ack_lock:
            for record, tp in zip(records, partitions, strict=True):
                tracker.register(tp, record.offset)
        for record, tp, record_writes in zip(records, partitions, writes, strict=False):
            self._produce_record(record, tp, record_writes)
        if (halted is not None or self._failed_writes
                or tracker.pending() > MAX_UNACKED_BATCHES * self.poll_size):
            self._settle()
        else:
            self._commit(self._consumer, asynchronous=True)

    def _settle(self) -> None:
        """Wait for every acknowledgement, commit synchronously, and re-read the
        records whose writes failed."""
        assert self._producer is not None and self._consumer is not None
        self._producer.flush()
        self._commit(self._consumer)
        if self._failed_writes:
            self._rewind()

    def _flush_quietly(self, producer: Producer | None) -> None:
        """Flush before a last commit; a failure only means fewer records are done."""
        if producer is None:
            return
        try:
            producer.flush()
        except LogError as error:
            _log.warning("stage %s: flush before commit failed: %s", self.name, error)

    def _produce_record(self, record: Record, tp: TopicPartition,
                        record_writes: list[_Write]) -> None:
        assert self._producer is not None
        if not record_writes:
            with self._ack_lock:
                self._tracker.done(tp, record.offset)
                self._acked.append(record_writes)
            return
        remaining = [len(record_writes)]

        def acknowledged(error: Exception | None, _meta: RecordMetadata | None) -> None:
            with self._ack_lock:
                if error is not None:
                    _log.warning("stage %s: write for %s[%d]@%d failed: %s", self.name,
                                 tp.topic, tp.partition, record.offset, error)
                    self._failed_writes.add((tp, record.offset))
                    return
                remaining[0] -= 1
                if remaining[0] or (tp, record.offset) in self._failed_writes:
                    return
                self._tracker.done(tp, record.offset)
                self._acked.append(record_writes)

        produce = self._producer.produce
        for write in record_writes:
            produce(write.topic, write.value, write.key, headers=write.headers,
                    on_delivery=acknowledged)

    def _commit(self, consumer: Consumer, *, asynchronous: bool = False) -> None:
        """Commit the done prefix. A commit the group refuses (a rebalance is under
        way: stale generation) is kept and retried at the next settle or in
        ``on_revoke``; the records stay uncommitted meanwhile, never skipped. An
        asynchronous commit is not confirmed: the next synchronous one sends its
        offsets again."""
        with self._ack_lock:
            offsets = self._tracker.committable(resend=not asynchronous)
            acked, self._acked = self._acked, []
        if acked:
            self._count(acked)
        if not offsets:
            return
        try:
            consumer.commit(offsets, asynchronous=asynchronous)
        except LogError as error:
            _log.warning("stage %s: commit refused, will retry: %s", self.name, error)
            return
        with self._ack_lock:
            if asynchronous:
                self._tracker.sent(offsets)
            else:
                self._tracker.confirm(offsets)

    def _rewind(self) -> None:
        """Seek back to the first unfinished record of each partition to read it
        again (after a settle, so no acknowledgement is still on its way)."""
        assert self._consumer is not None
        with self._ack_lock:
            first = self._tracker.unfinished()
            self._tracker.forget(first)
            self._failed_writes.clear()
        for tp, offset in first.items():
            _log.warning("stage %s: re-reading %s[%d] from %d after failed writes",
                         self.name, tp.topic, tp.partition, offset)
            self._consumer.seek(tp, offset)

    def _write_transaction(self, records: list[Record], writes: list[list[_Write]],
                           halted: tuple[Record, Failure] | None) -> None:
        """exactly_once: writes and input offsets in one transaction."""
        assert self._producer is not None and self._consumer is not None
        done = records[:len(writes)]
        offsets: dict[TopicPartition, int] = {}
        for record in done:
            offsets[record.topic_partition] = record.offset + 1
        if not offsets:
            return
        self._producer.begin_transaction()
        try:
            for record_writes in writes:
                for write in record_writes:
                    self._producer.produce(write.topic, write.value, write.key,
                                           headers=write.headers)
            self._producer.send_offsets_to_transaction(self._consumer, offsets)
            self._commit_transaction()
        except LogError as error:
            # Typically a rebalance (stale generation): nothing of the transaction is
            # visible; read the batch again from where it started, if still ours.
            self._transaction_failures += 1
            _log.warning("stage %s: transaction aborted (%d in a row), re-reading: %s",
                         self.name, self._transaction_failures, error)
            self._abort_quietly()
            owned = self._consumer.assignment()
            for tp in offsets:
                if tp in owned:
                    self._consumer.seek(tp, min(r.offset for r in done
                                                if r.topic_partition == tp))
            if self._transaction_failures >= MAX_TRANSACTION_FAILURES:
                raise
            return
        except BaseException:
            self._abort_quietly()
            raise
        self._transaction_failures = 0
        self._count(writes)

    def _commit_transaction(self) -> None:
        """Commit; a commit still under way when its timeout passes (the broker is
        unreachable) is resumed, never aborted: an abort is impossible then, and
        whether the transaction committed is unknown until the commit returns. Found
        by the reliability suite's broker restart: aborting here failed, and the
        next begin_transaction stopped the stage. A stop request ends the wait (the
        next owner's producer fences this one and the coordinator settles it)."""
        assert self._producer is not None
        while True:
            try:
                self._producer.commit_transaction()
                return
            except TransactionInProgressError as error:
                if self._stop.is_set():
                    raise
                _log.warning("stage %s: transaction commit still in progress, resuming: %s",
                             self.name, error)

    def _abort_quietly(self) -> None:
        assert self._producer is not None
        try:
            self._producer.abort_transaction()
        except LogError as error:
            _log.warning("stage %s: abort failed: %s", self.name, error)

    def _count(self, finished: Sequence[list[_Write]]) -> None:
        """Count finished input records (one list of writes each) and their writes."""
        dlq = self.plan.dlq_topic
        with self.stats.lock:
            stats = self.stats
            for record_writes in finished:
                stats.consumed += 1
                if not any(not write.store for write in record_writes):
                    stats.skipped += 1
                for write in record_writes:
                    if write.store:
                        continue
                    if write.forward:
                        stats.forwarded += 1
                    elif write.output is not None:
                        stats.outputs[write.output] = stats.outputs.get(write.output, 0) + 1
                    elif write.topic == dlq:
                        stats.dead_lettered += 1
