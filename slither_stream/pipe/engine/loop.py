"""One stage on the log: a consumer-group member that polls, processes, writes, commits.

The loop, per polled batch (records of several partitions, each in offset order):

1. decode records into items (undecodable records go to the dead-letter topic);
2. process the items, retrying failed ones as the error policy says: a local stage
   with a per-item handler, and a router, process each record and hand its writes
   to the producer before the next (see
   :mod:`slither_stream.pipe.engine.planning`); compute stages and batch handlers
   process the batch as a whole;
3. hand the batch's writes to the stage's commit strategy, in input order, keyed by
   the item key so per-key order is kept;
4. commit when the strategy says it is due (every commit interval or after a number
   of records), when a poll comes back empty, before partitions are revoked, when
   the stage halts and when it stops.

The delivery mode is the commit strategy (:mod:`slither_stream.pipe.engine.commit`),
chosen once when the stage starts; the loop never asks which mode it is in.
Handler semantics are the same in both modes: state writes go into the stage's
write buffer, readable at once, and are committed with the outputs.

``halt`` stops the stage after committing up to the last good record and raises
:class:`StageHaltedError`. Backpressure: before each poll the stage asks its
:class:`~slither_stream.pipe.engine.backpressure.LagGate` whether the next stage
lags too much, and pauses its partitions until it does not. The loop is
synchronous, so when a rebalance revokes partitions (inside the poll) every
finished record is committed before another member gets them.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from slither_stream import telemetry
from slither_stream.context import Context
from slither_stream.errors import PipeError, SerializationError
from slither_stream.item import Item
from slither_stream.log.base import Consumer, Log, Producer
from slither_stream.log.record_batch import RecordBatch
from slither_stream.log.types import TopicPartition
from slither_stream.pipe import state
from slither_stream.pipe.definition import PipeDefinition, StagePlan
from slither_stream.pipe.engine.backpressure import LagGate
from slither_stream.pipe.engine.commit.at_least_once import AtLeastOnce
from slither_stream.pipe.engine.commit.base import CommitStrategy
from slither_stream.pipe.engine.commit.exactly_once import ExactlyOnce
from slither_stream.pipe.engine.envelope import Envelope
from slither_stream.pipe.engine.keyed_state import KeyedState
from slither_stream.pipe.engine.planning import BatchWrites, emit_targets
from slither_stream.pipe.engine.processors import StageProcessor, processor_for
from slither_stream.pipe.engine.tally import Tally
from slither_stream.pipe.engine.tasks import StageTasks
from slither_stream.pipe.engine.write_buffer import WriteBuffer
from slither_stream.pipe.results import Failure, Outcome
from slither_stream.pipe.specs import LocalSpec
from slither_stream.policies import Halt, Retry
from slither_stream.store.app import DEFAULT_DATA_DIR

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
    """Counters a runner or operator reads to follow a stage (guarded by ``lock``).
    Records count once they are committed."""

    consumed: int = 0
    forwarded: int = 0
    skipped: int = 0
    dead_lettered: int = 0
    outputs: dict[str, int] = field(default_factory=dict)
    idle: bool = False
    batches: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)


def commit_strategy(definition: PipeDefinition, stage: str, *, count: Callable[[Tally], None],
                    buffer: WriteBuffer, stop: threading.Event, interval: float | None = None,
                    records: int | None = None) -> CommitStrategy:
    """The commit strategy of ``definition``'s delivery mode for ``stage`` (the one
    place that looks at the mode); ``interval`` / ``records`` override the pipe's."""
    chosen_interval = definition.commit_interval if interval is None else interval
    chosen_records = definition.commit_records if records is None else records
    if definition.delivery == "exactly_once":
        return ExactlyOnce(stage, count=count, buffer=buffer, interval=chosen_interval,
                           records=chosen_records, stop=stop)
    return AtLeastOnce(stage, count=count, buffer=buffer, interval=chosen_interval,
                       records=chosen_records)


class StageLoop:
    """Runs one stage of ``definition`` as a member of the stage's consumer group.

    ``run()`` blocks until :meth:`stop` is called (then it drains: the batch in
    hand finishes, is committed, and the clients close) or the stage halts (then it
    raises :class:`StageHaltedError`). ``on_progress`` is called after every batch
    and every empty poll, from the stage's thread. ``lag_interval`` is how often
    (seconds) the downstream lag is measured for backpressure; a stage overshoots
    ``max_lag`` by at most what it writes in that time. ``commit_interval``
    (seconds) and ``commit_records`` override the pipe's commit cadence.
    ``state_dir`` holds the stage's keyed state (the stores' data directory by
    default).
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
        on_progress: Callable[[StageLoop], None] | None = None,
        envelope: Envelope | None = None,
        lag_interval: float = 0.2,
        commit_interval: float | None = None,
        commit_records: int | None = None,
        state_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        self.log = log
        self.definition = definition
        self.plan: StagePlan = definition.stage(stage)
        self.buffer = WriteBuffer()
        """The stage's state writes since its last commit."""
        self.tasks: StageTasks | None = None
        """The stage's tasks, when it keeps keyed state."""
        self.keyed: KeyedState | None = None
        if self.plan.changelogs:
            self.tasks = StageTasks(log, self.plan, namespace=definition.namespace,
                                    state_dir=Path(state_dir or DEFAULT_DATA_DIR),
                                    standby_replicas=definition.standby_replicas)
            spec = self.plan.spec
            assert isinstance(spec, LocalSpec)
            self.keyed = KeyedState(self.tasks, self.buffer, spec.state)
        base = context or Context(pipe=definition.name)
        self.context = base.for_stage(stage, state=self.keyed)
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
        self._stop = threading.Event()
        self._stateful = bool(definition.stores) or self.tasks is not None
        """Whether handlers may write state (the pipe has stores): each attempt at an
        item then stages its writes."""
        self.commits = commit_strategy(definition, stage, count=self._add_tally,
                                       buffer=self.buffer, stop=self._stop,
                                       interval=commit_interval, records=commit_records)
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
        """The processor's per-item function, if it has one."""
        self._since_idle = 0
        self._revoked_in_poll: set[TopicPartition] = set()

    # -- lifecycle ----------------------------------------------------------------

    @property
    def name(self) -> str:
        return self.plan.name

    @property
    def poll_size(self) -> int:
        """Records per poll: one batch, or ``max_in_flight`` batches for compute."""
        return self.plan.spec.poll_size

    def stop(self) -> None:
        """Ask the loop to finish the batch in hand, commit, and return."""
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def run(self) -> None:
        """The stage loop (blocks; see the class docstring)."""
        commits = self.commits
        try:
            self._processor = processor_for(self.plan)
            self._one_at_a_time = self._processor.one_at_a_time(self.context)
            self._producer = producer = commits.producer(self.log, self.member, self.plan.group)
            tasks = self.tasks
            if tasks is not None:
                tasks.ensure_changelogs()
            self._consumer = consumer = self.log.consumer(self.plan.group,
                                                          auto_offset_reset="earliest")
            consumer.subscribe([self.plan.input_topic], on_assign=self._on_assign,
                               on_revoke=self._on_revoke)
            if tasks is not None:
                tasks.start_standbys(consumer)
            state.install(self.buffer)
            while not self._stop.is_set():
                self._apply_backpressure()
                self._revoked_in_poll.clear()
                records = consumer.poll_records(self.poll_size, self.poll_timeout)
                if self._revoked_in_poll:
                    records = self._drop_revoked(records)
                if commits.needs_rewind:
                    records = self._rewind(records)
                if tasks is not None:
                    tasks.collect(consumer, hold=self.gate is not None and self.gate.closed)
                    records = tasks.drop_restoring(records, consumer)
                if records:
                    with self.stats.lock:
                        self.stats.idle = False
                    self._since_idle += len(records)
                    self._handle(records)
                    if commits.due():
                        commits.commit(producer, consumer)
                else:
                    commits.commit(producer, consumer)
                    with self.stats.lock:
                        self.stats.idle = not commits.uncommitted and not (
                            tasks is not None and tasks.restoring)
                    if self._since_idle and self.stats.idle:
                        _log.info("stage %s (member %s, pid %d) caught up after %d records",
                                  self.name, self.member, os.getpid(), self._since_idle)
                        self._since_idle = 0
                self._progress()
        finally:
            state.install(None)
            self._close()

    def _close(self) -> None:
        consumer, producer, processor = self._consumer, self._producer, self._processor
        self._consumer = self._producer = self._processor = None
        try:
            if consumer is not None and producer is not None:
                try:
                    if not self.commits.needs_rewind:
                        self.commits.commit(producer, consumer)
                finally:
                    self.commits.close(producer)
        finally:
            if processor is not None:
                processor.close()
            if producer is not None:
                producer.close()
            if consumer is not None:
                consumer.close()
            if self.tasks is not None:  # after the last commit applied the state
                self.tasks.close()

    def _progress(self) -> None:
        if self.on_progress is not None:
            self.on_progress(self)

    # -- backpressure and rebalance --------------------------------------------------

    def _apply_backpressure(self) -> None:
        if self.gate is None or self._consumer is None:
            return
        if self.gate.due() and self._producer is not None:
            self.commits.before_lag_check(self._producer, self._consumer)
        was_closed = self.gate.closed
        closed = self.gate.update()
        assignment = self._consumer.assignment()
        if closed and (not was_closed or self._consumer.paused() != assignment):
            self._consumer.pause(assignment)
        elif was_closed and not closed:
            held = self.tasks.restoring if self.tasks is not None else set()
            self._consumer.resume(self._consumer.paused() - held)

    def _on_revoke(self, partitions: list[TopicPartition]) -> None:
        """Commit what is finished, then forget the revoked partitions. (After a
        failed commit nothing is committed; the still-owned partitions are re-read
        after the poll.)"""
        consumer, producer = self._consumer, self._producer
        if consumer is not None and producer is not None:
            self.commits.revoke(producer, consumer, partitions)
        if self.tasks is not None:
            self.tasks.revoked(partitions)
        self._revoked_in_poll.update(partitions)

    def _on_assign(self, partitions: list[TopicPartition]) -> None:
        """New partitions of a stage with keyed state wait (paused) for their state."""
        if self.tasks is not None and self._consumer is not None:
            self.tasks.assigned(partitions, self._consumer)

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
        """After a failed commit: seek back to the last commit of every owned
        partition; records in hand of those partitions are read again, so drop them."""
        assert self._consumer is not None
        moved = self.commits.rewind(self._consumer)
        return records.where(lambda topic, partition: (topic, partition) not in moved)

    # -- one batch ------------------------------------------------------------------

    def _handle(self, records: RecordBatch) -> None:
        assert self._consumer is not None and self._producer is not None
        with telemetry.span(telemetry.PIPE_STAGE, {
            "pipe": self.definition.name, "stage": self.name, "type": self.plan.kind,
            "batch_size": len(records),
        }) as span_meta:
            batch = self._process(records)
            self.commits.write(self._producer, self._consumer, batch)
            if batch.halted is not None:  # commit up to the last good record
                self.commits.commit(self._producer, self._consumer)
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
        """Decode ``records`` and plan to process each as the writer produces the
        batch, or process their items as a whole (see
        :mod:`slither_stream.pipe.engine.planning`)."""
        decoded = self.input_envelope.decode_many(records)
        staging = self.buffer if self._stateful else None
        if self._one_at_a_time is not None:
            return BatchWrites(self.plan, self._targets, records, decoded,
                               process_one=self._one_at_a_time, staging=staging,
                               pause=self._stop.wait, keyed=self.keyed)
        items = [None if isinstance(item, SerializationError) else item for item in decoded]
        if staging is None:
            outcomes, attempts = self._process_with_retries(items)
            return BatchWrites(self.plan, self._targets, records, decoded,
                               outcomes=outcomes, attempts=attempts)
        # A batch's state writes stand or fall with the batch: kept unless one of its
        # items halts the stage, in which case nothing of the batch is written.
        staging.stage()
        outcomes, attempts = self._process_with_retries(items)
        whole = staging.staged_writes > 0
        if whole and self._halts(outcomes):
            staging.drop()
        else:
            staging.keep()
        return BatchWrites(self.plan, self._targets, records, decoded, outcomes=outcomes,
                           attempts=attempts, whole=whole)

    def _halts(self, outcomes: Sequence[Outcome | None]) -> bool:
        return isinstance(self.plan.policy.final, Halt) and any(
            type(outcome) is Failure for outcome in outcomes)

    def _process_with_retries(
        self, items: Sequence[Item | None]
    ) -> tuple[list[Outcome | None], list[int]]:
        assert self._processor is not None
        policy = self.plan.policy
        outcomes: list[Outcome | None] = [None] * len(items)
        attempts = [0] * len(items)
        todo = [position for position, item in enumerate(items) if item is not None]
        for attempt in range(policy.attempts):
            if not todo:
                break
            if attempt and isinstance(policy, Retry):
                self._stop.wait(policy.delay(attempt))
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
