"""Restore a task's state stores from their changelog partition.

A task (one input partition of a stage) has one changelog partition per state
store. Restoring reads each from the store's checkpoint (or the partition's
beginning) to the changelog's stable end and applies the records as raw bytes in
large write batches without the write-ahead log, each batch carrying the
checkpoint of what it holds, then flushes. The end is measured again when it is
reached: a transaction the previous owner committed just before it left may have
its markers written late, and the records it holds only count once they are.

A checkpoint past the changelog's end (the topic was recreated or truncated) cannot
be trusted: the instance is wiped and restored from the beginning, and the reason
is logged. Progress is logged (records, records/s, ETA) and reported as the
telemetry event ``slither.state.restore.progress``: when the restore starts
(``records`` 0 of ``total``), every :data:`PROGRESS_INTERVAL_S` and when it ends
(``done=True``, also when there was nothing to restore), so a worker's metrics show
every partition it restored and how far each one got.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from slither_stream import telemetry
from slither_stream.errors import StoreError
from slither_stream.log.base import Log
from slither_stream.log.types import TopicPartition
from slither_stream.store.partitioned.task_store import TaskStore

_log = logging.getLogger(__name__)

STATE_RESTORE_PROGRESS: telemetry.Event = ("slither", "state", "restore", "progress")

POLL_RECORDS = 10_000
BATCH_RECORDS = 50_000
PROGRESS_INTERVAL_S = 5.0
IDLE_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class TaskRestore:
    """A snapshot of one task's restore. ``total`` is an upper bound (compaction
    leaves gaps in the offsets)."""

    stage: str
    partition: int
    records: int
    total: int
    elapsed: float
    done: bool

    @property
    def rate(self) -> float:
        return self.records / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def eta(self) -> float | None:
        if self.done:
            return 0.0
        rate = self.rate
        return max(0.0, (self.total - self.records) / rate) if rate > 0 else None


ProgressCallback = Callable[[TaskRestore], None]


class RestoreCancelled(Exception):  # noqa: N818 (a signal, not an error)
    """The partition was revoked while it was being restored."""


def restore_task(log: Log, stage: str, partition: int,
                 stores: Mapping[str, TaskStore], *, group: str,
                 cancel: threading.Event,
                 on_progress: ProgressCallback | None = None) -> int:
    """Bring ``stores`` (changelog topic -> the task's instance of that store) up to
    their changelogs' partition ``partition``; return the records applied."""
    parts = {TopicPartition(topic, partition): store for topic, store in stores.items()}
    begins = log.beginning_offsets(list(parts))
    ends = log.end_offsets(list(parts))
    starts: dict[TopicPartition, int] = {}
    for tp, store in parts.items():
        checkpoint = store.checkpoint
        if checkpoint is not None and checkpoint > ends[tp]:
            _log.warning("stage %s: state %s[%d]: local checkpoint %d is past the "
                         "changelog's end %d (recreated or truncated?); wiping the local "
                         "state and restoring from the changelog", stage, tp.topic,
                         tp.partition, checkpoint, ends[tp])
            raise CheckpointAheadError(tp)
        starts[tp] = begins[tp] if checkpoint is None else max(checkpoint, begins[tp])
    progress = _Progress(stage, partition, on_progress)
    applied = 0
    while True:
        pending = {tp for tp in parts if starts[tp] < ends[tp]}
        if not pending:
            break
        progress.total += sum(ends[tp] - starts[tp] for tp in pending)
        progress.started()
        applied += _read(log, parts, pending, starts, ends, group=group, cancel=cancel,
                         progress=progress)
        ends = log.end_offsets(list(parts))  # committed meanwhile, or markers landed
    for store in parts.values():
        store.flush()
    progress.finish(quiet=not applied)
    return applied


class CheckpointAheadError(StoreError):
    """A local checkpoint is past its changelog's end."""

    def __init__(self, tp: TopicPartition) -> None:
        self.partition = tp
        super().__init__(f"checkpoint of {tp.topic}[{tp.partition}] is past its end")


def _read(log: Log, parts: Mapping[TopicPartition, TaskStore], pending: set[TopicPartition],
          starts: dict[TopicPartition, int], ends: Mapping[TopicPartition, int], *,
          group: str, cancel: threading.Event, progress: _Progress) -> int:
    """Read ``pending`` from ``starts`` to ``ends``, applying and advancing ``starts``."""
    consumer = log.consumer(group, auto_offset_reset="earliest")
    applied = 0
    try:
        consumer.assign([(tp, starts[tp]) for tp in sorted(pending)])
        entries: dict[TopicPartition, list[tuple[bytes, bytes | None]]] = {
            tp: [] for tp in pending}
        buffered = 0
        last_record = time.monotonic()
        while pending:
            if cancel.is_set():
                raise RestoreCancelled
            batch = consumer.poll_records(POLL_RECORDS, 0.5)
            if batch:
                last_record = time.monotonic()
                for record in batch:
                    tp = TopicPartition(record.topic, record.partition)
                    if record.key is not None:
                        entries[tp].append((record.key, record.value))
                    starts[tp] = record.offset + 1
                buffered += len(batch)
                applied += len(batch)
                progress.advance(len(batch))
            elif time.monotonic() - last_record > IDLE_TIMEOUT_S:
                raise StoreError(f"restore of {sorted(pending)} stalled: no changelog "
                                 f"records for {IDLE_TIMEOUT_S:.0f} s")
            positions = consumer.position(list(pending))
            done = set()
            for tp in pending:
                position = positions.get(tp)
                if position is not None and position > starts[tp]:
                    starts[tp] = position  # stepped over transaction markers
                if starts[tp] >= ends[tp]:
                    done.add(tp)
            if buffered >= BATCH_RECORDS or done:
                for tp, pairs in entries.items():
                    if pairs or tp in done:
                        parts[tp].apply(pairs, starts[tp], wal=False)
                        pairs.clear()
                buffered = 0
            pending -= done
            progress.maybe_report()
        for tp, pairs in entries.items():
            if pairs:
                parts[tp].apply(pairs, starts[tp], wal=False)
    finally:
        consumer.close()
    return applied


class _Progress:
    def __init__(self, stage: str, partition: int, callback: ProgressCallback | None) -> None:
        self.stage = stage
        self.partition = partition
        self.callback = callback
        self.total = 0
        self.records = 0
        self._started = time.perf_counter()
        self._next = self._started + PROGRESS_INTERVAL_S

    def advance(self, count: int) -> None:
        self.records += count

    def maybe_report(self) -> None:
        if time.perf_counter() >= self._next:
            self._report(done=False)
            self._next = time.perf_counter() + PROGRESS_INTERVAL_S

    def started(self) -> None:
        """Announce the records to restore (telemetry only: the log says it at the
        first interval)."""
        self._emit(self._snapshot(done=False))

    def finish(self, *, quiet: bool = False) -> None:
        """The restore is done; ``quiet``: nothing was restored, so no log line."""
        if quiet:
            self._emit(self._snapshot(done=True))
        else:
            self._report(done=True)

    def _snapshot(self, *, done: bool) -> TaskRestore:
        return TaskRestore(self.stage, self.partition, self.records, self.total,
                           time.perf_counter() - self._started, done)

    def _report(self, *, done: bool) -> None:
        snapshot = self._snapshot(done=done)
        eta = snapshot.eta
        _log.info("stage %s: restore of partition %d: %d/%d records, %.0f records/s, ETA %s",
                  self.stage, self.partition, snapshot.records, snapshot.total,
                  snapshot.rate, "done" if done else ("?" if eta is None else f"{eta:.1f}s"))
        if self.callback is not None:
            self.callback(snapshot)
        self._emit(snapshot)

    def _emit(self, snapshot: TaskRestore) -> None:
        if telemetry.has_handlers(STATE_RESTORE_PROGRESS):
            telemetry.execute(STATE_RESTORE_PROGRESS,
                              {"records": snapshot.records, "total": snapshot.total,
                               "rate": snapshot.rate, "elapsed": snapshot.elapsed},
                              {"stage": self.stage, "partition": self.partition,
                               "done": snapshot.done})
