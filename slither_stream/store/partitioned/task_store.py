"""One partition of a keyed state store: a RocksDB instance and its checkpoint.

The instance holds committed state only: the stage writes a commit's entries in one
write batch with the checkpoint, the changelog offset a restore resumes from
(:meth:`TaskStore.apply`). A checkpoint may lag the changelog (a restore then reads
a few records again, which leaves the same values); it is never ahead of what the
instance holds: writes made without the write-ahead log (restores) reach disk in
atomic flushes of both column families, or not at all.

Every task store of a process shares one block cache, and its memtables are
charged to that cache (RocksDB's write buffer manager), so the memory of a
worker's keyed state is bounded by one figure however many partitions it owns:
``SLITHER_STATE_CACHE_MB`` (default :data:`DEFAULT_CACHE_MB`).
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import cast

from rocksdict import (
    BlockBasedOptions,
    Cache,
    ColumnFamily,
    DBCompressionType,
    Options,
    Rdict,
    WriteBatch,
    WriteBufferManager,
    WriteOptions,
)

from slither_stream.errors import ConfigError, StoreError

_log = logging.getLogger(__name__)

DEFAULT_CACHE_MB = 64
"""Block cache plus memtables of every task store of a process, in MB."""

CACHE_ENV = "SLITHER_STATE_CACHE_MB"
STATE_CF = "state"
META_CF = "meta"
CHECKPOINT_KEY = b"checkpoint"
OPEN_RETRY_S = 15.0
"""How long opening waits for another process (the partition's previous owner on
this host) to release the instance's lock."""

_shared: tuple[Cache, WriteBufferManager] | None = None
_shared_lock = threading.Lock()


def cache_mb() -> int:
    """The configured memory bound of this process's task stores, in MB."""
    raw = os.environ.get(CACHE_ENV, "").strip()
    if not raw:
        return DEFAULT_CACHE_MB
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 8:
        raise ConfigError(f"{CACHE_ENV}={raw!r}: expected a whole number of MB >= 8")
    return value


def _memory() -> tuple[Cache, WriteBufferManager]:
    global _shared
    with _shared_lock:
        if _shared is None:
            size = cache_mb() << 20
            cache = Cache(size)
            manager = WriteBufferManager.new_write_buffer_manager_with_cache(
                size // 2, False, cache)
            _shared = (cache, manager)
        return _shared


def _options() -> tuple[Options, dict[str, Options]]:
    cache, manager = _memory()
    db = Options(raw_mode=True)
    db.create_if_missing(True)
    db.create_missing_column_families(True)
    db.set_write_buffer_manager(manager)
    db.set_max_background_jobs(2)
    # Both column families flush together: a write batch made without the WAL
    # (restores, standbys) never reaches disk as a checkpoint without its data.
    db.set_atomic_flush(True)
    state = Options(raw_mode=True)
    state.set_compression_type(DBCompressionType.lz4())
    state.set_write_buffer_size(8 << 20)
    state.set_max_write_buffer_number(2)
    table = BlockBasedOptions()
    table.set_bloom_filter(10, False)
    table.set_block_cache(cache)
    state.set_block_based_table_factory(table)
    meta = Options(raw_mode=True)
    meta.set_write_buffer_size(1 << 20)
    return db, {STATE_CF: state, META_CF: meta}


class TaskReads:
    """The reads of a task's instance, shared by the owner's :class:`TaskStore` and
    the read-only view other processes open: the state and meta column families."""

    _state: Rdict
    _meta: Rdict

    def get(self, key: bytes) -> bytes | None:
        """The committed value of ``key``."""
        value: bytes | None = self._state.get(key)
        return value

    @property
    def checkpoint(self) -> int | None:
        """Changelog offset a restore resumes from (None: nothing restored yet)."""
        raw = self._meta.get(CHECKPOINT_KEY)
        return None if raw is None else int(raw)


class TaskStore(TaskReads):
    """The RocksDB instance of one (stage, state store, partition) under ``path``."""

    def __init__(self, path: Path, *, store: str, partition: int,
                 lock_wait: float = OPEN_RETRY_S) -> None:
        self.path = path
        self.store = store
        self.partition = partition
        path.mkdir(parents=True, exist_ok=True)
        options, families = _options()
        self._db = _open(path, options, families, lock_wait)
        self._state = self._db.get_column_family(STATE_CF)
        self._state_handle: ColumnFamily | None = self._db.get_column_family_handle(STATE_CF)
        self._meta = self._db.get_column_family(META_CF)
        self._meta_handle: ColumnFamily | None = self._db.get_column_family_handle(META_CF)
        self._closed = False

    def __repr__(self) -> str:
        return f"<TaskStore {self.store}[{self.partition}] {self.path}>"

    # -- reads (and TaskReads') -------------------------------------------------------

    def items(self) -> Iterable[tuple[bytes, bytes]]:
        """Every key and value, in key order (for tests and tools)."""
        return ((cast(bytes, key), cast(bytes, value)) for key, value in self._state.items())

    # -- writes -----------------------------------------------------------------------

    def apply(self, entries: Mapping[bytes, bytes | None] | Iterable[tuple[bytes, bytes | None]],
              checkpoint: int | None, *, wal: bool = True) -> None:
        """Write ``entries`` (None: delete) and the new ``checkpoint`` atomically."""
        batch = WriteBatch(raw_mode=True)
        handle = self._state_handle
        pairs = entries.items() if isinstance(entries, Mapping) else entries
        for key, value in pairs:
            if value is None:
                batch.delete(key, handle)
            else:
                batch.put(key, value, handle)
        if checkpoint is not None:
            batch.put(CHECKPOINT_KEY, str(checkpoint).encode(), self._meta_handle)
        if wal:
            self._db.write(batch)
        else:
            options = WriteOptions()
            options.disable_wal = True  # type: ignore[method-assign,assignment]
            self._db.write(batch, options)

    def flush(self) -> None:
        """Flush the memtables (after writes without the write-ahead log): state first,
        the checkpoint last, so a crash between the two leaves data newer than its
        checkpoint, which a restore applies again."""
        self._state.flush(True)
        self._meta.flush(True)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        # A column family handle keeps the instance (and its lock) alive until it
        # is freed: drop them before closing.
        self._state_handle = self._meta_handle = None
        for handle in (self._state, self._meta, self._db):
            handle.close()

    @staticmethod
    def wipe(path: Path) -> None:
        """Delete the instance at ``path`` (it is rebuilt from the changelog)."""
        shutil.rmtree(path, ignore_errors=True)


def _open(path: Path, options: Options, families: dict[str, Options],
          lock_wait: float) -> Rdict:
    """Open the instance, waiting up to ``lock_wait`` seconds for a lock another
    process (or another part of this one) still holds."""
    deadline = time.monotonic() + lock_wait
    while True:
        try:
            return Rdict(str(path), options, column_families=families)
        except Exception as error:
            text = str(error)
            if "lock" in text.lower() and time.monotonic() < deadline:
                time.sleep(0.1)
                continue
            if "lock" in text.lower():
                raise StoreError(f"state store instance {path} is held by another process "
                                 f"(the partition's previous owner?): {text}") from error
            raise CorruptTaskStoreError(f"cannot open state store instance {path}: "
                                        f"{text}") from error


class CorruptTaskStoreError(StoreError):
    """A task store's files cannot be opened; it is wiped and restored."""
