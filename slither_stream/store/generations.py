"""Generations: one RocksDB directory per build of a store, and the pointer to the live one.

Layout of a store on disk (``<data_dir>/<app>/<store>/``)::

    OWNER.lock             exclusive flock held by the one owner process
    CURRENT                "gen-00000003": the generation readers should open
    gen-00000003/          RocksDB: one column family per table + "_slither_meta"
    gen-00000003.readers   StoreReaders hold a shared flock here while they use it

A reload builds ``gen-N+1`` next to the live one and publishes it by renaming a new
``CURRENT`` into place (atomic on POSIX), so a crash before the rename leaves the old
generation live and the half-built directory is removed on the next start. An old
generation is deleted only by someone holding an exclusive flock on its ``.readers``
file, which no reader in any process can hold at the same time.

The meta column family holds, in the same write batches as the data, the changelog
checkpoint of every partition (``ckpt/<topic>/<partition>`` -> next offset to apply).
"""

from __future__ import annotations

import fcntl
import os
import shutil
import tempfile
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, cast

from rocksdict import (
    AccessType,
    BlockBasedOptions,
    Cache,
    DBCompressionType,
    Options,
    Rdict,
    WriteBatch,
    WriteOptions,
)

from slither_stream.errors import StoreError
from slither_stream.log.types import TopicPartition
from slither_stream.store.spec import TableSpec

META_CF = "_slither_meta"
POINTER = "CURRENT"
OWNER_LOCK = "OWNER.lock"
_PREFIX = "gen-"
_CLOSE_RETRY = 0.005  # seconds between close attempts while a read holds a handle

DEFAULT_BLOCK_CACHE_MB = 128
"""Block cache shared by the tables of one open generation (per process)."""

_COMPRESSION = {
    "none": DBCompressionType.none,
    "lz4": DBCompressionType.lz4,
    "zstd": DBCompressionType.zstd,
    "snappy": DBCompressionType.snappy,
    "zlib": DBCompressionType.zlib,
}


def generation_name(number: int) -> str:
    return f"{_PREFIX}{number:08d}"


def checkpoint_key(tp: TopicPartition) -> bytes:
    return f"ckpt/{tp.topic}/{tp.partition}".encode()


# -- pointer and directory listing ---------------------------------------------------

def read_pointer(store_dir: Path) -> int | None:
    """The live generation number, or None when the store was never built."""
    try:
        text = (store_dir / POINTER).read_text().strip()
    except FileNotFoundError:
        return None
    if not text.startswith(_PREFIX) or not text[len(_PREFIX):].isdigit():
        raise StoreError(f"corrupt generation pointer {store_dir / POINTER}: {text!r}")
    return int(text[len(_PREFIX):])


def write_pointer(store_dir: Path, number: int) -> None:
    """Atomically make ``number`` the live generation (write, fsync, rename, fsync dir)."""
    temporary = store_dir / f"{POINTER}.tmp"
    with open(temporary, "w") as handle:
        handle.write(generation_name(number) + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, store_dir / POINTER)
    directory = os.open(store_dir, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def list_generations(store_dir: Path) -> list[int]:
    """Numbers of every generation directory present, ascending."""
    found = []
    if store_dir.is_dir():
        for entry in store_dir.iterdir():
            suffix = entry.name[len(_PREFIX):]
            if entry.is_dir() and entry.name.startswith(_PREFIX) and suffix.isdigit():
                found.append(int(suffix))
    return sorted(found)


# -- locks ---------------------------------------------------------------------------

class OwnerLock:
    """The exclusive right to write a store directory (one owner process per host)."""

    def __init__(self, store_dir: Path, store: str) -> None:
        store_dir.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(store_dir / OWNER_LOCK, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(self._fd, 64, 0).decode(errors="replace").strip()
            os.close(self._fd)
            raise StoreError(
                f"store {store!r} at {store_dir} is already owned by another process "
                f"(pid {holder or 'unknown'}); open a StoreReader to read it instead"
            ) from None
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, str(os.getpid()).encode(), 0)

    def release(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)  # closing drops the flock
            self._fd = -1


def _readers_file(store_dir: Path, number: int) -> Path:
    return store_dir / f"{generation_name(number)}.readers"


def hold_for_reading(store_dir: Path, number: int) -> int | None:
    """Take a shared flock that keeps generation ``number`` from being deleted.

    Returns the lock's file descriptor, or None if the generation is gone or being
    deleted (the caller re-reads the pointer).
    """
    try:
        fd = os.open(_readers_file(store_dir, number), os.O_RDWR | os.O_CREAT, 0o644)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    if not (store_dir / generation_name(number)).is_dir():
        os.close(fd)
        return None
    return fd


def try_delete_generation(store_dir: Path, number: int) -> bool:
    """Delete generation ``number`` unless a reader holds it; True when it is gone."""
    path = store_dir / generation_name(number)
    lock_path = _readers_file(store_dir, number)
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        shutil.rmtree(path, ignore_errors=True)
        lock_path.unlink(missing_ok=True)
        return True
    finally:
        os.close(fd)


# -- typed raw access (rocksdict's stubs type keys as any scalar) --------------------

def raw_items(column: Rdict, *, from_key: bytes | None = None,
              backwards: bool = False) -> Iterator[tuple[bytes, bytes]]:
    """(key, value) bytes pairs of a raw-mode column family, in byte order."""
    if from_key is None:
        pairs = column.items(backwards=backwards)
    else:
        pairs = column.items(backwards=backwards, from_key=from_key)
    return cast(Iterator[tuple[bytes, bytes]], iter(pairs))


def raw_get(column: Rdict, key: bytes) -> bytes | None:
    return cast(bytes | None, column.get(key))


def raw_get_many(column: Rdict, keys: list[bytes]) -> list[bytes | None]:
    return cast(list[bytes | None], column.get(cast(list[Any], keys)))


# -- an open generation --------------------------------------------------------------

def _table_options(spec: TableSpec, cache: Cache) -> Options:
    """Per-table options: compression, a bloom filter (point reads skip files that
    cannot hold the key) and the generation's shared block cache."""
    options = Options(raw_mode=True)
    options.set_compression_type(_COMPRESSION[spec.compression]())
    table = BlockBasedOptions()
    table.set_bloom_filter(10, False)
    table.set_block_cache(cache)
    options.set_block_based_table_factory(table)
    return options


class Generation:
    """One open RocksDB directory holding every table of a store.

    Point reads use :attr:`tables` directly (no lock). Long scans hold a :meth:`pin`
    so that :meth:`close` (called when the generation retires) waits for them.
    """

    def __init__(self, store_dir: Path, number: int, specs: Sequence[TableSpec], *,
                 secondary: bool = False, block_cache_mb: int = DEFAULT_BLOCK_CACHE_MB) -> None:
        self.store_dir = store_dir
        self.number = number
        self.path = store_dir / generation_name(number)
        self._secondary_path: str | None = None
        options = Options(raw_mode=True)
        cache = Cache(block_cache_mb << 20)
        families = {spec.name: _table_options(spec, cache) for spec in specs}
        families[META_CF] = Options(raw_mode=True)
        if secondary:
            self._secondary_path = tempfile.mkdtemp(prefix="slither-secondary-")
            options.set_max_open_files(-1)
            self.db = Rdict(str(self.path), options, column_families=families,
                            access_type=AccessType.secondary(self._secondary_path))
        else:
            options.create_if_missing(True)
            options.create_missing_column_families(True)
            options.increase_parallelism(max(2, os.cpu_count() or 2))
            self.db = Rdict(str(self.path), options, column_families=families)
        self.tables: dict[str, Rdict] = {
            spec.name: self.db.get_column_family(spec.name) for spec in specs
        }
        self.handles: dict[str, Any] = {
            spec.name: self.db.get_column_family_handle(spec.name) for spec in specs
        }
        self.meta = self.db.get_column_family(META_CF)
        self.meta_handle = self.db.get_column_family_handle(META_CF)
        self._pins = 0
        self._pins_changed = threading.Condition()
        self._closing = False
        self._closed = False
        self._open_handles: list[Rdict] = [self.meta, *self.tables.values()]

    # -- checkpoints ---------------------------------------------------------------

    def checkpoint(self, tp: TopicPartition) -> int | None:
        """Next changelog offset to apply for ``tp``; None if nothing was applied."""
        raw = self.meta.get(checkpoint_key(tp))
        return None if raw is None else int(raw)

    def checkpoints(self, partitions: Sequence[TopicPartition]) -> dict[TopicPartition, int | None]:
        return {tp: self.checkpoint(tp) for tp in partitions}

    def put_checkpoints(self, batch: WriteBatch, offsets: Mapping[TopicPartition, int]) -> None:
        """Add "next offset" checkpoints to ``batch`` (same batch as the data)."""
        for tp, offset in offsets.items():
            batch.put(checkpoint_key(tp), str(offset).encode(), self.meta_handle)

    def write(self, batch: WriteBatch, *, wal: bool = True) -> None:
        if wal:
            self.db.write(batch)
        else:
            options = WriteOptions()
            options.disable_wal = True  # type: ignore[method-assign,assignment]
            self.db.write(batch, options)

    def flush(self) -> None:
        """Flush every memtable to SST files: tables first, checkpoints last.

        Needed after writes made without the WAL, before anyone else (a secondary
        instance, a restart) may look. A crash between the two flushes leaves data
        newer than its checkpoint, which a restore simply re-applies.
        """
        for column in self.tables.values():
            column.flush(True)
        self.meta.flush(True)

    # -- pins and lifecycle --------------------------------------------------------

    @contextmanager
    def pin(self) -> Iterator[Generation]:
        """Keep this generation open for the duration of a scan."""
        with self._pins_changed:
            if self._closing:
                raise StoreError(f"generation {self.number} of {self.store_dir} is closed")
            self._pins += 1
        try:
            yield self
        finally:
            with self._pins_changed:
                self._pins -= 1
                self._pins_changed.notify_all()

    @property
    def closed(self) -> bool:
        return self._closed

    def try_close(self) -> bool:
        """Close RocksDB unless a scan pins it or a read is inside a handle right now.

        Returns True once closed. From the first attempt on, new scans are refused
        (they move to the successor generation). Column-family handles keep the
        database open on their own, so each is closed; a read that races with this
        fails with DbClosedError and is retried on the successor by the table.
        """
        with self._pins_changed:
            if self._closed:
                return True
            self._closing = True
            if self._pins:
                return False
            try:
                while self._open_handles:
                    self._open_handles[-1].close()
                    self._open_handles.pop()
            except RuntimeError:  # "Already borrowed": a point read is in progress
                return False
            self._closed = True
        self.db.close()
        if self._secondary_path is not None:
            shutil.rmtree(self._secondary_path, ignore_errors=True)
        return True

    def close(self) -> None:
        """Close, waiting for pinned scans and in-flight reads to finish. Idempotent."""
        while not self.try_close():
            with self._pins_changed:
                self._pins_changed.wait(_CLOSE_RETRY)
