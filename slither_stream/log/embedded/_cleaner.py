"""Log cleaning: compaction of compacted topics and retention of the others.

Compaction keeps the last record per key in a partition; a tombstone (value None)
that is the last record of its key is removed once it is older than the topic's
``delete.retention.ms``. Retention removes the oldest records of a non-compacted
topic whose timestamp is older than ``retention_ms`` (a prefix, never a hole).
Offsets of surviving records never change; the beginning offset moves up to the
first surviving record, and the end offset is remembered in a marker key so a
restart cannot reuse offsets of removed records.

A pass only looks at records below the end offset it saw when it started; records
appended meanwhile are left to the next pass, so cleaning never blocks producers.

The :class:`Cleaner` thread (owned by the log, stopped on close) runs a pass when an
append makes a compacted partition dirty enough (see ``LogOptions``), when a kept
tombstone falls due, and every ``retention_check_interval_ms`` if some topic has a
retention. Between those it waits on its condition.
"""

from __future__ import annotations

import logging
import threading
import time

from rocksdict import WriteBatch

from slither_stream.log.embedded import _codec as codec
from slither_stream.log.embedded._engine import Engine
from slither_stream.log.embedded._topics import TopicState

_log = logging.getLogger(__name__)
_DELETE_CHUNK = 10_000


def compact_partition(engine: Engine, state: TopicState, partition: int) -> int:
    """Compact one partition now; returns how many records were removed."""
    with engine.clean_lock:
        with engine.cond:
            if engine.topics.get(state.name) is not state:
                return 0
            begin, end = state.begins[partition], state.ends[partition]
            dirty_seen = state.dirty[partition]
        last: dict[bytes, int] = {}
        tombstones: dict[bytes, int] = {}
        doomed: list[int] = []
        with engine.using_db():
            for key, blob in engine.scan(codec.record_key(state.topic_id, partition, begin),
                                         codec.record_key(state.topic_id, partition, end)):
                offset = codec.record_offset(key)
                record_key, is_tombstone, timestamp = codec.decode_for_cleaning(blob)
                if record_key is None:
                    continue
                previous = last.get(record_key)
                if previous is not None:
                    doomed.append(previous)
                last[record_key] = offset
                if is_tombstone:
                    tombstones[record_key] = timestamp
                else:
                    tombstones.pop(record_key, None)
        now_ms = time.time_ns() // 1_000_000
        next_due: float | None = None
        expired_tombstones = 0
        for record_key, timestamp in tombstones.items():
            expires_ms = timestamp + state.delete_retention_ms
            if expires_ms <= now_ms:
                doomed.append(last[record_key])
                expired_tombstones += 1
            else:
                due = time.monotonic() + (expires_ms - now_ms) / 1000.0
                next_due = due if next_due is None else min(next_due, due)
        survivors = len(last) - expired_tombstones
        doomed_set = set(doomed)
        first_kept = min((o for o in last.values() if o not in doomed_set), default=end)
        _delete_offsets(engine, state, partition, sorted(doomed_set), end=end, kept=survivors)
        with engine.cond:
            if engine.topics.get(state.name) is state:
                state.begins[partition] = max(state.begins[partition], first_kept)
                state.dirty[partition] = max(0, state.dirty[partition] - dirty_seen)
                state.stored[partition] = survivors + state.dirty[partition]
                state.tombstone_due[partition] = next_due
        return len(doomed_set)


def apply_retention(engine: Engine, state: TopicState, partition: int) -> int:
    """Remove the expired prefix of one partition; returns how many records."""
    if state.retention_ms is None:
        return 0
    with engine.clean_lock:
        with engine.cond:
            if engine.topics.get(state.name) is not state:
                return 0
            begin, end = state.begins[partition], state.ends[partition]
        cutoff = time.time_ns() // 1_000_000 - state.retention_ms
        first_kept = end
        with engine.using_db():
            for key, blob in engine.scan(codec.record_key(state.topic_id, partition, begin),
                                         codec.record_key(state.topic_id, partition, end)):
                if codec.decode_for_cleaning(blob)[2] >= cutoff:
                    first_kept = codec.record_offset(key)
                    break
            if first_kept == begin:
                return 0
            batch = WriteBatch(raw_mode=True)
            batch.delete_range(codec.record_key(state.topic_id, partition, begin),
                               codec.record_key(state.topic_id, partition, first_kept))
            batch.put(codec.high_water_key(state.topic_id, partition),
                      codec.pack_high_water(end, end - first_kept))
            engine.db.write(batch, engine.write_options)
        with engine.cond:
            if engine.topics.get(state.name) is state:
                state.begins[partition] = max(state.begins[partition], first_kept)
        return first_kept - begin


def _delete_offsets(engine: Engine, state: TopicState, partition: int, offsets: list[int], *,
                    end: int, kept: int) -> None:
    """Delete records in chunks; the last chunk also writes the high-water marker."""
    with engine.using_db():
        for start in range(0, max(1, len(offsets)), _DELETE_CHUNK):
            batch = WriteBatch(raw_mode=True)
            for offset in offsets[start:start + _DELETE_CHUNK]:
                batch.delete(codec.record_key(state.topic_id, partition, offset))
            if start + _DELETE_CHUNK >= len(offsets):
                batch.put(codec.high_water_key(state.topic_id, partition),
                          codec.pack_high_water(end, kept))
            engine.db.write(batch, engine.write_options)


class Cleaner:
    """The background cleaning thread of one log."""

    def __init__(self, engine: Engine, name: str) -> None:
        self._engine = engine
        self._cond = threading.Condition()
        self._requested = True  # a first pass cleans what was left dirty before a restart
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def request(self) -> None:
        """Ask for a pass soon (called after an append made a partition dirty)."""
        with self._cond:
            self._requested = True
            self._cond.notify()

    def stop(self) -> None:
        """Stop the thread and wait for it (a pass in progress finishes first)."""
        with self._cond:
            self._stopping = True
            self._cond.notify()
        if self._thread is not threading.current_thread():
            self._thread.join()

    def _run(self) -> None:
        next_retention = time.monotonic() + self._retention_interval()
        while True:
            with self._cond:
                while not self._stopping and not self._requested:
                    wake_at = self._next_wake(next_retention)
                    if wake_at is None:
                        self._cond.wait()
                        continue
                    remaining = wake_at - time.monotonic()
                    if remaining <= 0:
                        break
                    self._cond.wait(remaining)
                if self._stopping:
                    return
                self._requested = False
            now = time.monotonic()
            run_retention = now >= next_retention
            if run_retention:
                next_retention = now + self._retention_interval()
            try:
                self.run_pass(retention=run_retention)
            except Exception:
                if self._engine.closed:
                    return
                _log.exception("embedded log cleaning pass failed; will retry on next trigger")

    def _retention_interval(self) -> float:
        return self._engine.options.retention_check_interval_ms / 1000.0

    def _next_wake(self, next_retention: float) -> float | None:
        """Earliest moment a pass has work: retention check or a tombstone due."""
        engine = self._engine
        with engine.cond:
            topics = list(engine.topics.values())
        candidates = [next_retention] if any(t.retention_ms for t in topics) else []
        for state in topics:
            candidates.extend(due for due in state.tombstone_due if due is not None)
        return min(candidates) if candidates else None

    def run_pass(self, *, retention: bool) -> None:
        """Compact dirty or due partitions; apply retention when asked."""
        engine = self._engine
        now = time.monotonic()
        with engine.cond:
            topics = list(engine.topics.values())
        for state in topics:
            for partition in range(state.partitions):
                if self._stopping or engine.closed:
                    return
                if state.compacted:
                    due = state.tombstone_due[partition]
                    with engine.cond:
                        dirty = engine.needs_cleaning(state, partition)
                    if dirty or (due is not None and due <= now):
                        compact_partition(engine, state, partition)
                elif retention and state.retention_ms is not None:
                    apply_retention(engine, state, partition)
