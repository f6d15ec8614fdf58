"""The embedded producer: batched, durable, optionally transactional.

Records are validated and encoded in ``produce`` and buffered. A buffer is written
to RocksDB as one WriteBatch when it reaches ``batch_records``, on ``flush()``, or
``linger_ms`` after its first record, whichever comes first. The linger deadline is
kept by one named flusher thread per producer that waits on the producer's
condition (woken by the first record of a buffer and by close), never by polling.

Delivery callbacks run after the batch's RocksDB write returned, in the thread that
wrote it: the flusher thread, or the caller of ``produce``/``flush``. A callback that
raises is logged and does not stop delivery of the others.

A transactional producer keeps the records and offsets of a transaction in memory
and writes them all in one WriteBatch at ``commit_transaction``: either all of it is
in the log or none of it, so read-committed consumers never see aborted records.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from slither_stream.errors import (
    ConfigError,
    LogClosedError,
    LogError,
    ProduceError,
    TransactionError,
)
from slither_stream.log.base import Consumer, DeliveryCallback, Producer
from slither_stream.log.embedded._batch import PendingBatch, Slot
from slither_stream.log.embedded._codec import encode_record
from slither_stream.log.embedded._engine import OffsetCommit
from slither_stream.log.embedded._options import ProducerOptions
from slither_stream.log.partitioner import partition_for_key
from slither_stream.log.types import Headers, RecordMetadata, TopicPartition

if TYPE_CHECKING:
    from slither_stream.log.embedded.log import EmbeddedLog

_log = logging.getLogger(__name__)
_names = itertools.count(1)


class EmbeddedProducer(Producer):
    """Producer of an :class:`~slither_stream.log.embedded.EmbeddedLog`."""

    def __init__(self, owner: EmbeddedLog, options: ProducerOptions,
                 transactional_id: str | None = None) -> None:
        self._owner = owner
        self._engine = owner.engine
        self._batch_records = options.batch_records
        self._errors_only = options.delivery_reports == "errors"
        self._linger = options.linger_ms / 1000.0
        self._write_lock = threading.Lock()
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._buffer = PendingBatch()
        self._first_at = 0.0
        self._failures: list[tuple[Exception, int]] = []  # (error, records it failed)
        self._round_robin: dict[str, int] = {}
        self._sticky: dict[str, int] = {}
        self._closed = False
        self._txn_id = transactional_id
        self._txn_epoch = 0
        self._in_txn = False
        self._txn_records = PendingBatch()
        self._txn_offsets: dict[tuple[str, TopicPartition], int] = {}
        self._flusher: threading.Thread | None = None
        if transactional_id is not None:
            if not isinstance(transactional_id, str) or not transactional_id:
                raise ConfigError(
                    f"transactional_id must be a non-empty string, got {transactional_id!r}"
                )
            with self._engine.cond:
                self._txn_epoch = self._engine.txn_epochs.get(transactional_id, 0) + 1
                self._engine.txn_epochs[transactional_id] = self._txn_epoch
        else:
            self._flusher = threading.Thread(
                target=self._run_flusher, daemon=True,
                name=f"slither-embedded-producer-flusher-{next(_names)}",
            )
            self._flusher.start()

    # -- producing ----------------------------------------------------------------

    def produce(
        self,
        topic: str,
        value: bytes | None,
        key: bytes | None = None,
        *,
        partition: int | None = None,
        headers: Headers | Sequence[tuple[str, bytes]] | None = None,
        timestamp_ms: int | None = None,
        on_delivery: DeliveryCallback | None = None,
    ) -> None:
        engine = self._engine
        state = engine.topics.get(topic)
        if state is None or engine.closed or self._closed:
            if self._closed:
                raise LogClosedError("produce() on a closed producer")
            state = engine.topic(topic)
        if key is not None and type(key) is not bytes:
            key = _as_bytes("key", key)
        if value is not None and type(value) is not bytes:
            value = _as_bytes("value", value)
        if partition is None:
            if key is not None:
                partition = partition_for_key(key, state.partitions)
            else:
                partition = self._sticky_partition(topic, state.partitions)
        elif isinstance(partition, bool) or not isinstance(partition, int) \
                or not 0 <= partition < state.partitions:
            raise ConfigError(
                f"partition {partition!r} is out of range for topic {topic!r} "
                f"(partitions 0..{state.partitions - 1})"
            )
        if state.compacted and key is None:
            raise ConfigError(f"topic {topic!r} is compacted: every record needs a key")
        if timestamp_ms is None:
            timestamp_ms = time.time_ns() // 1_000_000
        elif isinstance(timestamp_ms, bool) or not isinstance(timestamp_ms, int) \
                or timestamp_ms < 0:
            raise ConfigError(f"timestamp_ms must be a non-negative int, got {timestamp_ms!r}")
        entry = (encode_record(key, value, _headers(headers), timestamp_ms), timestamp_ms,
                 on_delivery)
        if self._txn_id is not None:
            if not self._in_txn:
                raise TransactionError(
                    "a transactional producer produces only inside a transaction: "
                    "call begin_transaction() first"
                )
            self._txn_records.add(state, partition, entry)
            return
        with self._lock:
            if self._closed:
                raise LogClosedError("produce() on a closed producer")
            size = self._buffer.add(state, partition, entry)
            if size == 1:
                self._first_at = time.monotonic()
                self._cond.notify()
        if size >= self._batch_records:
            self._write_buffer(None)

    def _sticky_partition(self, topic: str, partitions: int) -> int:
        """Keyless records stick to one partition per batch (Kafka's sticky
        partitioner): batches stay per-partition, and successive batches rotate."""
        chosen = self._sticky.get(topic)
        if chosen is None or chosen >= partitions:
            index = self._round_robin.get(topic, -1) + 1
            self._round_robin[topic] = index
            chosen = self._sticky[topic] = index % partitions
        return chosen

    def flush(self, timeout: float | None = None) -> None:
        self._write_buffer(timeout)
        with self._lock:
            failures, self._failures = self._failures, []
        if failures:
            raise ProduceError(
                f"{sum(count for _, count in failures)} records of {len(failures)} partition "
                f"batch(es) were not written to the embedded log; first error: "
                f"{failures[0][0]}", undelivered=sum(count for _, count in failures),
            ) from failures[0][0]

    def send(
        self,
        topic: str,
        value: bytes | None,
        key: bytes | None = None,
        *,
        partition: int | None = None,
        headers: Headers | Sequence[tuple[str, bytes]] | None = None,
        timeout: float | None = 30.0,
    ) -> RecordMetadata:
        if self._txn_id is not None:
            raise TransactionError(
                "send() waits for an acknowledgement, which a transactional producer "
                "gives only at commit_transaction(); use produce() with on_delivery"
            )
        if self._errors_only:
            raise ConfigError("send() reports where the record was stored, which a producer "
                              "made with delivery_reports='errors' never learns; use 'all'")
        return super().send(topic, value, key, partition=partition, headers=headers,
                            timeout=timeout)

    def _write_buffer(self, timeout: float | None) -> None:
        """Write what is buffered now; the write lock keeps batches in order."""
        if timeout is None:
            self._write_lock.acquire()
        elif not self._write_lock.acquire(timeout=max(0.0, timeout)):
            raise LogError(f"flush timed out after {timeout}s with records outstanding")
        try:
            with self._lock:
                batch, self._buffer = self._buffer, PendingBatch()
                self._sticky.clear()
            if batch.count:
                self._deliver(batch, self._append(batch))
        finally:
            self._write_lock.release()

    def _append(self, batch: PendingBatch) -> dict[Slot, int | Exception]:
        try:
            return self._engine.append(batch)
        except Exception as exc:
            return dict.fromkeys(batch.slots, exc)

    def _deliver(self, batch: PendingBatch, bases: dict[Slot, int | Exception]) -> None:
        """Run callbacks (record ``i`` of a partition is at ``base + i``)."""
        call = self._call
        for slot, entries in batch.slots.items():
            base = bases[slot]
            if isinstance(base, Exception):
                unreported = sum(1 for entry in entries if entry[2] is None)
                if unreported:
                    with self._lock:
                        self._failures.append((base, unreported))
                for _, _, callback in entries:
                    if callback is not None:
                        call(callback, base, None)
                continue
            if self._errors_only:
                continue
            name, partition = slot[0].name, slot[1]
            for index, (_, timestamp, callback) in enumerate(entries):
                if callback is not None:
                    call(callback, None, RecordMetadata(name, partition, base + index, timestamp))

    @staticmethod
    def _call(callback: DeliveryCallback, error: Exception | None,
              meta: RecordMetadata | None) -> None:
        try:
            callback(error, meta)
        except Exception:
            _log.exception("delivery callback %r raised", callback)

    def _run_flusher(self) -> None:
        """Write each buffer ``linger_ms`` after its first record."""
        cond = self._cond
        while True:
            with cond:
                while not self._buffer.count and not self._closed:
                    cond.wait()
                if self._closed:
                    return
                while self._buffer.count and not self._closed:
                    remaining = self._first_at + self._linger - time.monotonic()
                    if remaining <= 0:
                        break
                    cond.wait(remaining)
                if not self._buffer.count or self._closed:
                    continue
            self._write_buffer(None)

    # -- transactions -------------------------------------------------------------

    @property
    def transactional(self) -> bool:
        return self._txn_id is not None

    def _check_fence(self) -> None:
        assert self._txn_id is not None
        if self._engine.txn_epochs.get(self._txn_id) != self._txn_epoch:
            raise TransactionError(
                f"producer with transactional_id {self._txn_id!r} was fenced by a newer "
                f"producer with the same id"
            )

    def _require_txn(self, action: str) -> None:
        if self._closed:
            raise LogClosedError(f"{action} on a closed producer")
        if self._txn_id is None:
            raise TransactionError(f"{action} needs a producer created with transactional_id")
        if not self._in_txn:
            raise TransactionError(f"{action} outside a transaction: call begin_transaction()")

    def begin_transaction(self) -> None:
        if self._closed:
            raise LogClosedError("begin_transaction() on a closed producer")
        if self._txn_id is None:
            raise TransactionError(
                "begin_transaction() needs a producer created with transactional_id")
        if self._in_txn:
            raise TransactionError("a transaction is already open on this producer")
        self._check_fence()
        self._in_txn = True

    def send_offsets_to_transaction(
        self, consumer: Consumer, offsets: Mapping[TopicPartition, int]
    ) -> None:
        self._require_txn("send_offsets_to_transaction()")
        group = consumer.group
        for tp, offset in offsets.items():
            self._engine.resolve(tp)
            if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
                raise ConfigError(f"offset for {tp} must be a non-negative int, got {offset!r}")
            self._txn_offsets[(group, TopicPartition(tp[0], tp[1]))] = offset

    def commit_transaction(self, timeout: float | None = None) -> None:
        self._require_txn("commit_transaction()")
        records, self._txn_records = self._txn_records, PendingBatch()
        offsets, self._txn_offsets = self._txn_offsets, {}
        self._in_txn = False
        commits = [OffsetCommit(group, self._engine.resolve(tp), tp.partition, offset)
                   for (group, tp), offset in offsets.items()]
        try:
            bases = self._engine.append(records, commits, self._check_fence)
        except Exception as exc:
            self._deliver(records, dict.fromkeys(records.slots, exc))
            if isinstance(exc, TransactionError):
                raise
            raise TransactionError(f"commit_transaction() failed: {exc}") from exc
        failed = [base for base in bases.values() if isinstance(base, Exception)]
        self._deliver(records, bases)
        if failed:
            raise TransactionError(
                f"commit_transaction() could not write to {failed[0]}; the rest committed")

    def abort_transaction(self, timeout: float | None = None) -> None:
        self._require_txn("abort_transaction()")
        records, self._txn_records = self._txn_records, PendingBatch()
        self._txn_offsets = {}
        self._in_txn = False
        aborted = TransactionError("the transaction was aborted")
        for entries in records.slots.values():
            for _, _, callback in entries:
                if callback is not None:
                    self._call(callback, aborted, None)

    # -- lifecycle ----------------------------------------------------------------

    def close(self, timeout: float | None = 30.0) -> None:
        if self._closed:
            return
        try:
            if self._in_txn:
                self.abort_transaction()
            if not self._engine.closed:
                self._write_buffer(timeout)
        finally:
            with self._cond:
                self._closed = True
                stranded, self._buffer = self._buffer, PendingBatch()
                self._cond.notify_all()
            if stranded.count:
                self._deliver(stranded, dict.fromkeys(
                    stranded.slots, LogClosedError("the log closed before the write")))
            if self._flusher is not None and self._flusher is not threading.current_thread():
                self._flusher.join()
            self._owner.forget(self)


def _as_bytes(what: str, data: object) -> bytes | None:
    if data is None or type(data) is bytes:
        return data
    if isinstance(data, bytearray | memoryview):
        return bytes(data)
    raise ConfigError(f"record {what} must be bytes or None, got {type(data).__name__}")


def _headers(headers: Headers | Sequence[tuple[str, bytes]] | None) -> Headers:
    if not headers:
        return ()
    result = []
    for entry in headers:
        if not isinstance(entry, tuple) or len(entry) != 2 or not isinstance(entry[0], str) \
                or not isinstance(entry[1], bytes | bytearray):
            raise ConfigError(f"each header must be a (str, bytes) pair, got {entry!r}")
        result.append((entry[0], bytes(entry[1])))
    return tuple(result)
