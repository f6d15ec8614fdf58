"""Restore: replay changelog topics into a generation, from its checkpoints to the end.

Used on start (from the live generation's checkpoints; an empty directory has none, so
it is a full rebuild) and by ``reload`` (a new, empty generation). Records are read
with big ``poll_batch`` calls and applied as raw bytes — no decoding — in large
RocksDB write batches, each carrying the checkpoints of the offsets it contains, so a
crash mid-restore resumes where the last batch ended.

Long restores report :class:`RestoreProgress` (records, rate, ETA) to the log, to an
optional callback and as the telemetry event ``slither.store.restore.progress``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from rocksdict import WriteBatch

from slither_stream import telemetry
from slither_stream.errors import StoreError
from slither_stream.log.base import Consumer, Log
from slither_stream.log.types import Record, TopicPartition
from slither_stream.store.generations import Generation

_log = logging.getLogger(__name__)

STORE_RESTORE_PROGRESS: telemetry.Event = ("slither", "store", "restore", "progress")


@dataclass(frozen=True)
class RestoreProgress:
    """A snapshot of a running restore. ``total`` is an upper bound (compaction gaps)."""

    store: str
    generation: int
    records: int
    total: int
    elapsed: float
    done: bool

    @property
    def rate(self) -> float:
        """Records applied per second so far."""
        return self.records / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def eta(self) -> float | None:
        """Seconds left at the current rate (None before there is a rate)."""
        if self.done:
            return 0.0
        rate = self.rate
        return max(0.0, (self.total - self.records) / rate) if rate > 0 else None


ProgressCallback = Callable[[RestoreProgress], None]


@dataclass(frozen=True)
class RestoreOptions:
    """Tuning for restores; the defaults favour throughput."""

    poll_records: int = 10_000
    batch_records: int = 100_000
    progress_interval: float = 5.0
    idle_timeout: float = 60.0
    on_progress: ProgressCallback | None = None


def restore(
    log: Log,
    generation: Generation,
    topics: Mapping[str, str],
    *,
    store: str,
    group: str,
    options: RestoreOptions | None = None,
    wal: bool = True,
) -> int:
    """Apply ``topics`` (changelog topic -> table name) to ``generation``; return records.

    Reads every partition from its checkpoint (or its beginning) up to the end offset
    measured when the restore starts. ``wal=False`` skips RocksDB's write-ahead log
    for a generation nobody reads yet; the caller must flush it afterwards.
    """
    opts = options or RestoreOptions()
    partitions = [tp for topic in topics for tp in log.partitions_of(topic)]
    ends = log.end_offsets(partitions)
    begins = log.beginning_offsets(partitions)
    nexts: dict[TopicPartition, int] = {}
    for tp, checkpoint in generation.checkpoints(partitions).items():
        nexts[tp] = begins[tp] if checkpoint is None else max(checkpoint, begins[tp])
    pending = {tp for tp in partitions if nexts[tp] < ends[tp]}
    if not pending:
        return 0
    # Start at the checkpoint itself even when it is a transaction marker: the
    # log's position steps over markers once it has fetched past them.
    starts = {tp: nexts[tp] for tp in pending}
    total = sum(ends[tp] - starts[tp] for tp in pending)
    handles = {topic: generation.handles[table] for topic, table in topics.items()}
    tracker = _Progress(store, generation.number, total, opts)
    consumer = log.consumer(group, auto_offset_reset="earliest")
    try:
        consumer.assign([(tp, starts[tp]) for tp in sorted(pending)])
        batch = WriteBatch(raw_mode=True)
        in_batch = 0
        reached: dict[TopicPartition, int] = {}
        last_record = time.monotonic()
        while pending:
            records = consumer.poll_batch(opts.poll_records, timeout=0.5)
            if records:
                last_record = time.monotonic()
                last = _apply(records, batch, handles)
                for (topic, partition), offset in last.items():
                    reached[TopicPartition(topic, partition)] = offset + 1
                in_batch += len(records)
                tracker.advance(len(records))
                finished = {tp for tp in pending if reached.get(tp, -1) >= ends[tp]}
                if len(records) < opts.poll_records and finished != pending:
                    # A short batch: caught up with what is there. A partition may
                    # end in a transaction marker (no record); its position says.
                    finished |= _past_end(consumer, pending - finished, ends)
            else:
                finished = _past_end(consumer, pending, ends)
                if not finished and time.monotonic() - last_record > opts.idle_timeout:
                    raise StoreError(
                        f"restore of store {store!r} stalled: no changelog records for "
                        f"{opts.idle_timeout:.0f}s with {sorted(pending)} still short of "
                        f"their end offsets {[ends[tp] for tp in sorted(pending)]}"
                    )
            pending -= finished
            if in_batch >= opts.batch_records or (not pending and reached):
                generation.put_checkpoints(batch, reached)
                generation.write(batch, wal=wal)
                batch = WriteBatch(raw_mode=True)
                in_batch = 0
            tracker.maybe_report()
    finally:
        consumer.close()
    tracker.finish()
    return tracker.records


def _past_end(consumer: Consumer, partitions: set[TopicPartition],
              ends: Mapping[TopicPartition, int]) -> set[TopicPartition]:
    """Partitions whose read position has reached their end offset."""
    positions = consumer.position(list(partitions))
    return {tp for tp, pos in positions.items() if pos is not None and pos >= ends[tp]}


def _apply(records: list[Record], batch: WriteBatch,
           handles: Mapping[str, Any]) -> dict[tuple[str, int], int]:
    """Add records to ``batch`` as raw puts/deletes; return the last offset per
    (topic, partition). The restore hot loop: keep it lean."""
    put = batch.put
    delete = batch.delete
    last: dict[tuple[str, int], int] = {}
    for record in records:
        key = record.key
        if key is not None:
            value = record.value
            if value is None:
                delete(key, handles[record.topic])
            else:
                put(key, value, handles[record.topic])
        last[record.topic, record.partition] = record.offset
    return last


class _Progress:
    """Counts applied records and reports on an interval."""

    def __init__(self, store: str, generation: int, total: int, opts: RestoreOptions) -> None:
        self.store = store
        self.generation = generation
        self.total = total
        self.records = 0
        self._opts = opts
        self._started = time.perf_counter()
        self._next_report = self._started + opts.progress_interval

    def advance(self, count: int) -> None:
        self.records += count

    def maybe_report(self) -> None:
        if time.perf_counter() >= self._next_report:
            self._report(done=False)
            self._next_report = time.perf_counter() + self._opts.progress_interval

    def finish(self) -> None:
        self._report(done=True)

    def _report(self, *, done: bool) -> None:
        snapshot = RestoreProgress(self.store, self.generation, self.records, self.total,
                                   time.perf_counter() - self._started, done)
        eta = snapshot.eta
        _log.info(
            "restore of store %s (generation %d): %d/%d records, %.0f records/s, ETA %s",
            self.store, self.generation, snapshot.records, snapshot.total, snapshot.rate,
            "done" if done else ("?" if eta is None else f"{eta:.1f}s"),
        )
        if self._opts.on_progress is not None:
            self._opts.on_progress(snapshot)
        if telemetry.has_handlers(STORE_RESTORE_PROGRESS):
            telemetry.execute(
                STORE_RESTORE_PROGRESS,
                {"records": snapshot.records, "total": snapshot.total, "rate": snapshot.rate,
                 "elapsed": snapshot.elapsed},
                {"store": self.store, "generation": self.generation, "done": done},
            )
