"""The store owner: the single writer of a store in this process.

This module holds the owner's lifecycle (lock the directory, create changelogs,
restore, serve, close) and its generation handling (open, swap, retire); the write
path is :mod:`~slither_stream.store.writes`, a mixin of :class:`StoreOwner`.

Writes are serialized by one lock per store. Each write is produced to the table's
compacted changelog topic and waits for the acknowledgement; only then is it applied
to RocksDB, together with the changelog checkpoint (next offset) in the same write
batch. A crash between the two is repaired on restart: restore replays the changelog
from the checkpoint, so RocksDB never holds a write the changelog lacks, and a write
the changelog has is never lost.

Only one process may own a store directory (an exclusive flock); other processes read
it with :class:`~slither_stream.store.reader.StoreReader`.

With ``follow=True`` (several hosts owning replicas of one store) the owner does not
apply its own writes: a :class:`~slither_stream.store.follower.ChangelogFollower`
applies every record in log order and writes wait until it has.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import socket
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from slither_stream.errors import ConfigError, StoreError, UnknownTopicError
from slither_stream.log.base import Log, Producer
from slither_stream.log.types import TopicPartition, TopicSpec
from slither_stream.store import generations as gens
from slither_stream.store.follower import ChangelogFollower
from slither_stream.store.generations import Generation, OwnerLock
from slither_stream.store.recovery import RestoreOptions, restore
from slither_stream.store.retirement import Retirer
from slither_stream.store.size import SizeReporter
from slither_stream.store.spec import TableSpec
from slither_stream.store.table import Table, table_named
from slither_stream.store.writes import OwnerWrites

if TYPE_CHECKING:
    from slither_stream.store.behaviour import ReloadSource, Store

_log = logging.getLogger(__name__)

MANIFEST = "tables.json"
RETRY_DELETE_AFTER = 1.0  # a StoreReader still holds the generation
RETRY_CLOSE_AFTER = 0.05  # a scan or read still uses the generation


def changelog_topic(app: str, store: str, table: str) -> str:
    """``<app>.<store>.<table>.changelog``."""
    return f"{app}.{store}.{table}.changelog"


class StoreOwner(OwnerWrites):
    """Owns one store's directory, changelog producer and live generation."""

    def __init__(
        self,
        store: Store,
        log: Log,
        *,
        app: str,
        data_dir: str | Path,
        grace_period: float = 10.0,
        restore_options: RestoreOptions | None = None,
        flush_timeout: float = 30.0,
        follow: bool = False,
        block_cache_mb: int = gens.DEFAULT_BLOCK_CACHE_MB,
    ) -> None:
        from slither_stream.store.spec import check_name

        self.store = store
        self.app = check_name("app", app)
        self.name = store.store_name()
        specs = list(store.tables())
        if not specs:
            raise ConfigError(f"store {self.name!r} declares no tables")
        self.specs: dict[str, TableSpec] = {}
        for spec in specs:
            if not isinstance(spec, TableSpec):
                raise ConfigError(f"store {self.name!r}: tables() returned {spec!r}, "
                                  "not a TableSpec")
            if spec.name in self.specs:
                raise ConfigError(f"store {self.name!r} declares table {spec.name!r} twice")
            self.specs[spec.name] = spec
        self.log = log
        self.store_dir = Path(data_dir) / self.app / self.name
        self.topics = {name: changelog_topic(self.app, self.name, name) for name in self.specs}
        self.grace_period = grace_period
        self.restore_options = restore_options or RestoreOptions()
        self.flush_timeout = flush_timeout
        self.write_lock = threading.RLock()
        self.follow = follow
        self.block_cache_mb = block_cache_mb
        # Guards applying records to RocksDB and ``positions`` (next changelog offset
        # applied per partition); waiters for "my write is applied" wait on it.
        self.applied = threading.Condition()
        self.positions: dict[TopicPartition, int] = {}
        self._follower: ChangelogFollower | None = None
        self._current: Generation | None = None
        self._tables = {name: Table(self, self.name, spec, self) for name, spec in
                        self.specs.items()}
        self._retirer = Retirer(f"slither-store-{self.name}-retire")
        self._retiring: set[Generation] = set()
        # Size telemetry; trailing reports run on the retirer's thread.
        self.sizes = SizeReporter(self.name, lambda: self._current, self._schedule_upkeep)
        self._owner_lock: OwnerLock | None = None
        self._producer: Producer | None = None
        self._transactions: Producer | None = None
        host = hashlib.sha1(f"{socket.gethostname()}:{self.store_dir.resolve()}".encode())
        self.transactional_id = f"{self.app}.{self.name}.owner-{host.hexdigest()[:12]}"

    def __repr__(self) -> str:
        live = None if self._current is None else self._current.number
        return f"<StoreOwner {self.app}.{self.name} generation={live}>"

    # -- lifecycle -----------------------------------------------------------------

    @property
    def current(self) -> Generation:
        """The live generation (read by tables; swapped atomically by reload)."""
        generation = self._current
        if generation is None:
            raise StoreError(f"store {self.name!r} is not started (or already stopped)")
        return generation

    @property
    def started(self) -> bool:
        return self._current is not None

    def start(self) -> StoreOwner:
        """Lock the directory, restore from the changelog, then serve.

        Returns only after the live generation holds everything the changelog had
        when the restore began. A store that has a ``load`` and an empty changelog is
        populated by ``load`` (published to the changelog) before this returns.
        """
        if self._current is not None:
            return self
        self._owner_lock = OwnerLock(self.store_dir, self.name)
        self._retirer = Retirer(f"slither-store-{self.name}-retire")
        try:
            self._ensure_topics()
            self._write_manifest()
            # A stable id per host and directory: opening it fences (aborts) a
            # transaction a crashed predecessor left open, before the restore reads.
            self._transactions = self.log.producer(transactional_id=self.transactional_id)
            self._producer = self.log.producer()
            self._start_generation()
            if self.follow:
                self._follower = ChangelogFollower(self)
                self._follower.start()
            if self.store.has_loader and self._changelog_empty():
                _log.info("store %s: empty changelog, populating it with load()", self.name)
                self.reload("load")
        except BaseException:
            self.close()
            raise
        self.sizes.report()
        return self

    def _ensure_topics(self) -> None:
        """Create missing changelogs (compacted); an existing one must match the spec."""
        missing = []
        for name, spec in self.specs.items():
            topic = self.topics[name]
            try:
                found = self.log.describe_topic(topic).partitions
            except UnknownTopicError:
                missing.append(TopicSpec(topic, spec.partitions, compacted=True))
                continue
            if found != spec.partitions:
                raise ConfigError(
                    f"changelog {topic} has {found} partitions but table "
                    f"{self.name}.{name} declares {spec.partitions}"
                )
        if missing:
            self.log.create_topics(missing, exist_ok=True)

    def _write_manifest(self) -> None:
        """Record table shapes so a StoreReader can open the store by name alone."""
        entries = [
            {"name": spec.name, "type": spec.type, "key": spec.key_codec.name,
             "value": spec.value if isinstance(spec.value, str) else None,
             "compression": spec.compression, "partitions": spec.partitions}
            for spec in self.specs.values()
        ]
        temporary = self.store_dir / f"{MANIFEST}.tmp"
        temporary.write_text(json.dumps({"store": self.name, "tables": entries}, indent=1))
        os.replace(temporary, self.store_dir / MANIFEST)

    def _start_generation(self) -> None:
        number = gens.read_pointer(self.store_dir)
        for leftover in gens.list_generations(self.store_dir):
            if leftover != number and not gens.try_delete_generation(self.store_dir, leftover):
                _log.warning("store %s: generation %d is still held by a reader; "
                             "it will be deleted later", self.name, leftover)
                self._retire_later(None, leftover)
        fresh = number is None
        if number is None:
            number = max(gens.list_generations(self.store_dir), default=0) + 1
        generation = self.open_generation(number)
        try:
            restore(self.log, generation, self._topic_tables(), store=self.name,
                    group=self._restore_group(), options=self.restore_options,
                    wal=not fresh)
            if fresh:
                generation.flush()
                gens.write_pointer(self.store_dir, number)
        except BaseException:
            generation.close()
            raise
        self._current = generation
        self.positions = self._checkpoints_of(generation)

    def open_generation(self, number: int) -> Generation:
        """Open (creating if needed) generation ``number`` of this store for writing."""
        return Generation(self.store_dir, number, list(self.specs.values()),
                          block_cache_mb=self.block_cache_mb)

    def _checkpoints_of(self, generation: Generation) -> dict[TopicPartition, int]:
        partitions = [tp for topic in self.topics.values() for tp in self.log.partitions_of(topic)]
        return {tp: offset for tp, offset in generation.checkpoints(partitions).items()
                if offset is not None}

    def _changelog_empty(self) -> bool:
        partitions = [tp for topic in self.topics.values()
                      for tp in self.log.partitions_of(topic)]
        return not partitions or all(
            end == 0 for end in self.log.end_offsets(partitions).values())

    def _topic_tables(self) -> dict[str, str]:
        return {topic: name for name, topic in self.topics.items()}

    def _restore_group(self) -> str:
        return f"{self.app}.{self.name}.restore"

    def close(self) -> None:
        """Stop serving: flush the producer, close generations, release the lock."""
        follower, self._follower = self._follower, None
        if follower is not None:
            follower.stop()
        with self.write_lock:
            producers = [self._producer, self._transactions]
            self._producer = self._transactions = None
            generation, self._current = self._current, None
        try:
            for producer in producers:
                if producer is not None:
                    producer.close()
        finally:
            self._retirer.close()
            for retired in list(self._retiring):
                retired.close()
                gens.try_delete_generation(self.store_dir, retired.number)
            self._retiring.clear()
            if generation is not None:
                generation.close()
            if self._owner_lock is not None:
                self._owner_lock.release()
                self._owner_lock = None

    # -- tables and writes ---------------------------------------------------------

    def table(self, name: str) -> Table:
        return table_named(self._tables, self.name, name)

    # -- reload --------------------------------------------------------------------

    def reload(self, source: ReloadSource | None = None) -> int:
        """Build the next generation and swap it in; see ``reload.py``."""
        from slither_stream.store.reload import reload_store

        number = reload_store(self, source)
        self.sizes.report()
        return number

    def swap(self, generation: Generation) -> Generation:
        """Make ``generation`` live (pointer file, then reference); retire the old one.

        The caller holds :attr:`write_lock` and :attr:`applied`, and has flushed
        ``generation``.
        """
        old = self.current
        gens.write_pointer(self.store_dir, generation.number)
        self._current = generation
        self.positions = self._checkpoints_of(generation)
        self._retire_later(old, old.number)
        return old

    def _schedule_upkeep(self, delay: float, action: Callable[[], float | None]) -> None:
        """Run ``action`` on the retirer's thread (the one started by this start())."""
        self._retirer.schedule(delay, action)

    def _retire_later(self, generation: Generation | None, number: int) -> None:
        """Close ``generation`` after the grace period, then delete it from disk once
        no StoreReader holds it."""
        store_dir = self.store_dir

        if generation is not None:
            self._retiring.add(generation)

        def retire() -> float | None:
            if generation is not None:
                if not generation.try_close():
                    return RETRY_CLOSE_AFTER
                self._retiring.discard(generation)
            if gens.try_delete_generation(store_dir, number):
                _log.debug("store %s: deleted generation %d", self.name, number)
                return None
            return RETRY_DELETE_AFTER

        self._retirer.schedule(self.grace_period if generation is not None else 0.0, retire)

    def next_generation_number(self) -> int:
        return max([*gens.list_generations(self.store_dir), self.current.number]) + 1
