"""The store owner's write path: changelog first, then RocksDB.

Every write is produced to the table's compacted changelog and waits for the
acknowledgement; only then is it applied to the live generation, together with the
changelog checkpoint (next offset) in the same write batch. Bulk writes and reloads
go through :meth:`OwnerWrites.publish`, one changelog transaction (all or nothing).
In follow mode a write waits until the follower thread has applied it instead.

:class:`OwnerWrites` is a mixin of :class:`~slither_stream.store.owner.StoreOwner`
(kept apart so the owner's lifecycle and generation handling read on their own); it
uses the owner's locks, producers and live generation, declared below.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from rocksdict import WriteBatch

from slither_stream import telemetry
from slither_stream.errors import ConfigError, ProduceError, StoreError
from slither_stream.log.base import Log, Producer
from slither_stream.log.types import RecordMetadata, TopicPartition

if TYPE_CHECKING:
    from slither_stream.store.follower import ChangelogFollower
    from slither_stream.store.generations import Generation
    from slither_stream.store.size import SizeReporter
    from slither_stream.store.table import Table

_log = logging.getLogger(__name__)

BULK_CHUNK = 50_000


class OwnerWrites:
    """``put`` / ``update`` / ``delete`` / ``bulk_insert`` / ``publish`` of the owner."""

    # Set by StoreOwner.__init__ / start().
    name: str
    log: Log
    topics: dict[str, str]
    follow: bool
    flush_timeout: float
    write_lock: threading.RLock
    applied: threading.Condition
    positions: dict[TopicPartition, int]
    _producer: Producer | None
    _transactions: Producer | None
    _follower: ChangelogFollower | None
    sizes: SizeReporter

    if TYPE_CHECKING:
        @property
        def current(self) -> Generation: ...

        def table(self, name: str) -> Table: ...

    def _producer_or_fail(self) -> Producer:
        producer = self._producer
        if producer is None:
            raise StoreError(f"store {self.name!r} is not started (or already stopped)")
        return producer

    def _apply(self, table: str, entries: list[tuple[bytes, bytes | None]],
               acks: dict[TopicPartition, int]) -> None:
        generation = self.current
        handle = generation.handles[table]
        batch = WriteBatch(raw_mode=True)
        for key, value in entries:
            if value is None:
                batch.delete(key, handle)
            else:
                batch.put(key, value, handle)
        generation.put_checkpoints(batch, acks)
        with self.applied:
            generation.write(batch)
            self.positions.update(acks)
            self.applied.notify_all()

    def _write_one(self, table: str, key: bytes, value: bytes | None) -> None:
        meta = self._producer_or_fail().send(self.topics[table], value, key,
                                             timeout=self.flush_timeout)
        acks = {TopicPartition(meta.topic, meta.partition): meta.offset + 1}
        if self.follow:
            self.wait_applied(acks)
        else:
            self._apply(table, [(key, value)], acks)

    def _emit_write(self, table: str, count: int) -> None:
        if telemetry.has_handlers(telemetry.STORE_WRITE):
            telemetry.execute(telemetry.STORE_WRITE, {"count": count},
                              {"store": self.name, "table": table})
        self.sizes.changed()

    def put(self, table: str, key: Any, value: Any) -> None:
        handle = self.table(table)
        encoded_key = handle.encode_key(key)
        encoded_value = handle.encode_value(key, value)
        with self.write_lock:
            self._write_one(table, encoded_key, encoded_value)
        self._emit_write(table, 1)

    def update(self, table: str, key: Any, fn: Callable[[Any], Any], default: Any) -> Any:
        handle = self.table(table)
        encoded_key = handle.encode_key(key)
        with self.write_lock:
            raw = self.current.tables[table].get(encoded_key)
            old = default if raw is None else handle.decode_value(key, raw)
            new = fn(old)
            self._write_one(table, encoded_key, handle.encode_value(key, new))
        self._emit_write(table, 1)
        return new

    def delete(self, table: str, key: Any) -> None:
        encoded_key = self.table(table).encode_key(key)
        with self.write_lock:
            self._write_one(table, encoded_key, None)
        self._emit_write(table, 1)

    def bulk_insert(self, table: str, items: Iterable[tuple[Any, Any]]) -> int:
        handle = self.table(table)
        encoded: list[tuple[bytes, bytes | None]] = []
        for pair in items:
            try:
                key, value = pair
            except (TypeError, ValueError):
                raise StoreError(
                    f"bulk_insert into {self.name}.{table} takes (key, value) pairs, "
                    f"got {pair!r}"
                ) from None
            encoded.append((handle.encode_key(key), handle.encode_value(key, value)))
        if not encoded:
            return 0
        with self.write_lock:
            acks = self.publish([(table, encoded)])
            if self.follow:
                self.wait_applied(acks)
            else:
                for start in range(0, len(encoded), BULK_CHUNK):
                    last = start + BULK_CHUNK >= len(encoded)
                    self._apply(table, encoded[start:start + BULK_CHUNK], acks if last else {})
        self._emit_write(table, len(encoded))
        return len(encoded)

    def publish(self, batches: Iterable[tuple[str, list[tuple[bytes, bytes | None]]]]
                ) -> dict[TopicPartition, int]:
        """Produce every ``(table, entries)`` batch (None value = tombstone) in ONE
        changelog transaction and wait for its commit; return next offsets per
        partition. The caller holds :attr:`write_lock`.

        All or nothing: if the owner dies before the commit, no reader of the
        changelog (restore, followers on other hosts) ever sees any of it, so a
        crashed ``bulk_insert`` or ``reload`` cannot leave half of itself behind.
        ``batches`` may be a generator, so a large reload is never all in memory.
        """
        producer = self._transactions_or_fail()
        acks: dict[TopicPartition, int] = {}
        failures: list[Exception] = []
        produced = 0

        def delivered(error: Exception | None, meta: RecordMetadata | None) -> None:
            if error is not None:
                failures.append(error)
            elif meta is not None:
                tp = TopicPartition(meta.topic, meta.partition)
                acks[tp] = max(acks.get(tp, 0), meta.offset + 1)

        producer.begin_transaction()
        try:
            for table, entries in batches:
                topic = self.topics[table]
                for key, value in entries:
                    producer.produce(topic, value, key, on_delivery=delivered)
                produced += len(entries)
            producer.commit_transaction(self.flush_timeout)
            producer.flush(self.flush_timeout)
        except BaseException:
            try:
                producer.abort_transaction(self.flush_timeout)
            except Exception:
                _log.exception("store %s: aborting the changelog transaction failed", self.name)
            raise
        if failures:
            raise ProduceError(
                f"{len(failures)} of {produced} changelog writes of store {self.name!r} were "
                f"not acknowledged (first: {failures[0]})"
            )
        return acks

    def _transactions_or_fail(self) -> Producer:
        producer = self._transactions
        if producer is None:
            raise StoreError(f"store {self.name!r} is not started (or already stopped)")
        return producer

    # -- follow mode ---------------------------------------------------------------

    def wait_applied(self, targets: dict[TopicPartition, int],
                     timeout: float | None = None) -> None:
        """Wait until the live generation has applied the changelog up to ``targets``
        (next offsets). In follow mode the follower thread does the applying."""
        limit = self.flush_timeout if timeout is None else timeout
        follower = self._follower

        def reached() -> bool:
            if follower is not None and follower.failure is not None:
                return True
            return all(self.positions.get(tp, 0) >= offset for tp, offset in targets.items())

        with self.applied:
            done = self.applied.wait_for(reached, limit)
        if follower is not None:
            follower.check()
        if not done:
            raise StoreError(
                f"store {self.name!r}: changelog not applied up to {targets} within {limit}s "
                f"(applied: {self.positions})"
            )

    def sync(self, timeout: float | None = None) -> None:
        """Follow mode: wait until every record now in the changelog (from any host)
        is applied locally — read-your-writes across hosts."""
        if not self.follow:
            raise ConfigError(f"store {self.name!r}: sync() needs follow=True")
        partitions = [tp for topic in self.topics.values() for tp in self.log.partitions_of(topic)]
        self.wait_applied(self.log.end_offsets(partitions), timeout)

