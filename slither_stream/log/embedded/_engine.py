"""The storage engine of the embedded log: RocksDB, offsets, and the shared lock.

One :class:`Engine` per open log directory. It owns the RocksDB handle, the topic
table, the in-memory end offsets, and the condition variable every waiter uses:

* ``cond`` guards all in-memory state (topics, offsets, group membership) and is
  notified whenever something a consumer may wait for changes (an append, a
  partition released in a rebalance, a resume, close).
* ``write_lock`` serializes appends: offsets are assigned and the RocksDB batch is
  written under it, and the end offsets move only after the write returned. A reader
  therefore never sees an offset that is not durably stored, and a record is
  acknowledged only after its WAL write.
* ``clean_lock`` serializes the cleaner with topic deletion.

Reads run outside ``cond`` (RocksDB is thread-safe); :meth:`using_db` counts them so
:meth:`close` waits for in-flight calls before closing the database.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import cast

from rocksdict import Options, Rdict, ReadOptions, WriteBatch, WriteOptions

from slither_stream.errors import (
    ConfigError,
    LogClosedError,
    LogError,
    TopicExistsError,
    UnknownTopicError,
)
from slither_stream.log.embedded import _codec as codec
from slither_stream.log.embedded._batch import PendingBatch, Slot
from slither_stream.log.embedded._groups import GroupCoordinator
from slither_stream.log.embedded._lock import DirectoryLock
from slither_stream.log.embedded._options import LogOptions
from slither_stream.log.embedded._topics import (
    TopicState,
    state_for_spec,
    validate_spec,
)
from slither_stream.log.types import Record, TopicPartition, TopicSpec

DB_DIR = "rocksdb"

_record_key = codec.record_key
_record_offset = codec.record_offset
_decode = codec.decode_record
_unpack_head = codec.RECORD_HEAD.unpack_from
_unpack_key = codec.RECORD_KEY.unpack
_pack_u64 = codec.U64.pack
_HEAD_SIZE = codec.RECORD_HEAD.size


@dataclass(frozen=True, slots=True)
class OffsetCommit:
    """One committed offset to write."""

    group: str
    topic: TopicState
    partition: int
    offset: int


class Engine:
    """RocksDB plus the in-memory offsets of one open embedded log."""

    def __init__(self, path: str | Path, options: LogOptions) -> None:
        self.path = Path(path).expanduser().resolve()
        self.options = options
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"cannot create embedded log directory {self.path}: {exc}") \
                from exc
        if not self.path.is_dir():
            raise ConfigError(f"embedded log path {self.path} is not a directory")
        self._lock = DirectoryLock(self.path)
        try:
            db_options = Options(raw_mode=True)
            db_options.create_if_missing(True)
            db_options.increase_parallelism(2)
            self.db = Rdict(str(self.path / DB_DIR), db_options)
        except Exception as exc:
            self._lock.release()
            raise LogError(f"cannot open the embedded log at {self.path}: {exc}") from exc
        self.write_options = WriteOptions()
        self.write_options.sync = options.sync
        self.cond = threading.Condition()
        self.write_lock = threading.Lock()
        self.clean_lock = threading.Lock()
        self.closed = False
        self._active = 0
        self.topics: dict[str, TopicState] = {}
        self.groups = GroupCoordinator(self.partition_count)
        # transactional id -> epoch of the newest producer using it (fencing)
        self.txn_epochs: dict[str, int] = {}
        self.on_dirty: Callable[[], None] = lambda: None
        self._load()

    # -- lifecycle ----------------------------------------------------------------

    def _load(self) -> None:
        for key, raw in self.scan(codec.TOPIC_TAG, bytes([codec.TOPIC_TAG[0] + 1])):
            name = key[len(codec.TOPIC_TAG):].decode("utf-8")
            state = TopicState.from_json(name, raw, self.options)
            for partition in range(state.partitions):
                self._recover_partition(state, partition)
            self.topics[name] = state
        raw_next = self.db.get(codec.NEXT_TOPIC_ID_KEY)
        self._next_topic_id = codec.unpack_u64(raw_next) if raw_next is not None else 1

    def _recover_partition(self, state: TopicState, partition: int) -> None:
        """End = after the last stored record (or the remembered high water).

        Records appended since the last cleaning are dirty; the marker written by
        that cleaning says how many it kept, so the counts need no scan.
        """
        prefix = codec.partition_prefix(codec.RECORD_TAG, state.topic_id, partition)
        end = cleaned_end = 0
        kept: int | None = None
        marker = self.db.get(codec.high_water_key(state.topic_id, partition))
        if marker is not None:
            cleaned_end, kept = codec.unpack_high_water(marker)
            end = cleaned_end
        it = self.db.iter(ReadOptions())
        it.seek_for_prev(_record_key(state.topic_id, partition, codec.MAX_OFFSET))
        if it.valid() and it.key().startswith(prefix):
            end = max(end, _record_offset(it.key()) + 1)
        it.seek(_record_key(state.topic_id, partition, 0))
        begin = end
        if it.valid() and it.key().startswith(prefix):
            begin = _record_offset(it.key())
        del it
        state.ends[partition] = end
        state.begins[partition] = begin
        if kept is None:
            state.dirty[partition] = state.stored[partition] = end - begin
        else:
            state.dirty[partition] = end - cleaned_end
            state.stored[partition] = kept + state.dirty[partition]

    def close(self) -> None:
        """Wait for in-flight calls, then close RocksDB and release the directory."""
        with self.cond:
            if self.closed:
                return
            self.closed = True
            self.cond.notify_all()
            while self._active:
                self.cond.wait()
        with self.write_lock, self.clean_lock:
            try:
                self.db.close()
            finally:
                self._lock.release()

    def check_open(self) -> None:
        if self.closed:
            raise LogClosedError(f"the embedded log at {self.path} is closed")

    @contextmanager
    def using_db(self) -> Iterator[None]:
        """Mark a database call in flight so :meth:`close` waits for it."""
        with self.cond:
            self.check_open()
            self._active += 1
        try:
            yield
        finally:
            with self.cond:
                self._active -= 1
                if not self._active:
                    self.cond.notify_all()

    # -- topics -------------------------------------------------------------------

    def topic(self, name: str) -> TopicState:
        """The live topic ``name``; raises :class:`UnknownTopicError`."""
        if self.closed:
            self.check_open()
        state = self.topics.get(name)
        if state is None:
            if not isinstance(name, str):
                raise ConfigError(f"topic names are strings, got {name!r}")
            raise UnknownTopicError(name)
        return state

    def partition_count(self, name: str) -> int | None:
        state = self.topics.get(name)
        return None if state is None else state.partitions

    def resolve(self, tp: TopicPartition) -> TopicState:
        """The topic of ``tp`` after checking the partition exists."""
        if not isinstance(tp, tuple) or len(tp) != 2:
            raise ConfigError(f"expected a TopicPartition(topic, partition), got {tp!r}")
        state = self.topic(tp[0])
        partition = tp[1]
        if isinstance(partition, bool) or not isinstance(partition, int) \
                or not 0 <= partition < state.partitions:
            raise ConfigError(
                f"partition {partition!r} is out of range for topic {state.name!r} "
                f"(partitions 0..{state.partitions - 1})"
            )
        return state

    def create_topics(self, specs: Sequence[TopicSpec], exist_ok: bool) -> None:
        for spec in specs:
            validate_spec(spec)
        with self.write_lock, self.using_db():
            batch = WriteBatch(raw_mode=True)
            created: list[TopicState] = []
            next_id = self._next_topic_id
            for spec in specs:
                existing = self.topics.get(spec.name) or next(
                    (s for s in created if s.name == spec.name), None)
                if existing is not None:
                    if not exist_ok:
                        raise TopicExistsError(f"topic {spec.name!r} already exists")
                    if not existing.same_shape(spec):
                        raise TopicExistsError(
                            f"topic {spec.name!r} already exists with "
                            f"{existing.partitions} partition(s), compacted="
                            f"{existing.compacted}; asked for {spec.partitions}, "
                            f"compacted={spec.compacted}"
                        )
                    continue
                state = state_for_spec(spec, next_id, self.options)
                next_id += 1
                batch.put(codec.topic_key(spec.name), state.to_json())
                created.append(state)
            if not created:
                return
            batch.put(codec.NEXT_TOPIC_ID_KEY, codec.pack_u64(next_id))
            self.db.write(batch, self.write_options)
            with self.cond:
                self._next_topic_id = next_id
                for state in created:
                    self.topics[state.name] = state
                self.groups.topics_changed()
                self.cond.notify_all()

    def delete_topic(self, name: str) -> None:
        with self.write_lock, self.clean_lock, self.using_db():
            state = self.topic(name)
            batch = WriteBatch(raw_mode=True)
            for tag in (codec.RECORD_TAG, codec.COMMIT_TAG, codec.HIGH_WATER_TAG):
                begin, end = codec.topic_range(tag, state.topic_id)
                batch.delete_range(begin, end)
            batch.delete(codec.topic_key(name))
            self.db.write(batch, self.write_options)
            with self.cond:
                del self.topics[name]
                self.groups.topics_changed()
                self.cond.notify_all()

    # -- records ------------------------------------------------------------------

    def append(self, batch: PendingBatch, commits: Sequence[OffsetCommit] = (),
               fence: Callable[[], None] | None = None) -> dict[Slot, int | Exception]:
        """Write a batch (and offsets) in one RocksDB WriteBatch.

        Returns per partition the offset of its first record (record ``i`` of the
        partition got ``base + i``), or the error that kept it out. ``fence`` runs
        under the write lock before anything is written and may raise to refuse the
        whole batch (transactional fencing).
        """
        bases: dict[Slot, int | Exception] = {}
        with self.write_lock, self.using_db():
            if fence is not None:
                fence()
            topics = self.topics
            write = WriteBatch(raw_mode=True)
            put = write.put
            pack_offset = _pack_u64
            sizes: list[tuple[TopicState, int, int]] = []
            for slot, entries in batch.in_write_order():
                state, partition = slot
                if topics.get(state.name) is not state:
                    bases[slot] = UnknownTopicError(state.name)
                    continue
                base = state.ends[partition]
                prefix = codec.partition_prefix(codec.RECORD_TAG, state.topic_id, partition)
                offset = base
                for entry in entries:
                    put(prefix + pack_offset(offset), entry[0])
                    offset += 1
                bases[slot] = base
                sizes.append((state, partition, len(entries)))
            for commit in commits:
                if topics.get(commit.topic.name) is not commit.topic:
                    raise UnknownTopicError(commit.topic.name)
                put(codec.commit_key(commit.topic.topic_id, commit.partition, commit.group),
                    codec.pack_u64(commit.offset))
            if not sizes and not commits:
                return bases
            self.db.write(write, self.write_options)
            wake_cleaner = False
            with self.cond:
                for state, partition, added in sizes:
                    state.ends[partition] += added
                    if state.compacted:
                        state.dirty[partition] += added
                        state.stored[partition] += added
                        wake_cleaner = wake_cleaner or self.needs_cleaning(state, partition)
                self.cond.notify_all()
        if wake_cleaner:
            self.on_dirty()
        return bases

    def needs_cleaning(self, state: TopicState, partition: int) -> bool:
        dirty = state.dirty[partition]
        return dirty >= self.options.min_dirty_records and \
            dirty >= state.dirty_ratio * max(1, state.stored[partition])

    def read(self, state: TopicState, partition: int, start: int, end: int,
             limit: int) -> tuple[list[Record], int]:
        """Up to ``limit`` records with ``start <= offset < end``, and the next position."""
        records: list[Record] = []
        append = records.append
        name = state.name
        unpack_head = _unpack_head
        unpack_key = _unpack_key
        head_size = _HEAD_SIZE
        with self.using_db():
            for key, blob in self.scan(_record_key(state.topic_id, partition, start),
                                       _record_key(state.topic_id, partition, end)):
                timestamp, key_len, value_len, header_count = unpack_head(blob)
                if header_count:
                    fields = _decode(blob)
                    append(Record(name, partition, _record_offset(key), fields.key,
                                  fields.value, fields.headers, fields.timestamp_ms))
                elif key_len >= 0:
                    # the common case, decoded inline: no headers
                    cut = head_size + key_len
                    append(Record(name, partition, unpack_key(key)[3], blob[head_size:cut],
                                  blob[cut:cut + value_len] if value_len >= 0 else None,
                                  (), timestamp))
                else:
                    append(Record(name, partition, unpack_key(key)[3], None,
                                  blob[head_size:head_size + value_len]
                                  if value_len >= 0 else None, (), timestamp))
                if len(records) >= limit:
                    return records, records[-1].offset + 1
        return records, end

    def scan(self, start: bytes, stop: bytes) -> Iterator[tuple[bytes, bytes]]:
        """Stored ``(key, value)`` pairs with ``start <= key < stop``, in key order.

        A generator on purpose: RocksDB keeps a pointer to the upper bound, so the
        ``ReadOptions`` holding it must outlive the iteration (it lives in this
        frame). Callers hold :meth:`using_db` while iterating.
        """
        bound = ReadOptions()
        bound.set_iterate_upper_bound(stop)
        items = cast(Iterator[tuple[bytes, bytes]],
                     iter(self.db.items(from_key=start, read_opt=bound)))
        yield from items
        del bound

    # -- committed offsets --------------------------------------------------------

    def commit(self, commits: Sequence[OffsetCommit]) -> None:
        if not commits:
            return
        with self.using_db():
            batch = WriteBatch(raw_mode=True)
            for commit in commits:
                batch.put(codec.commit_key(commit.topic.topic_id, commit.partition,
                                           commit.group), codec.pack_u64(commit.offset))
            self.db.write(batch, self.write_options)

    def committed(self, group: str, state: TopicState, partition: int) -> int | None:
        with self.using_db():
            raw = self.db.get(codec.commit_key(state.topic_id, partition, group))
        return None if raw is None else codec.unpack_u64(cast(bytes, raw))
