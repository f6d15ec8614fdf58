"""The log interface: the one seam between slither-stream and its backends.

Upper layers (store, dispatch, pipe, cli) talk only to :class:`Log`,
:class:`Producer` and :class:`Consumer`. Two backends implement them: the embedded
durable log (``embedded://PATH``) and Apache Kafka (``kafka://host:port``). The
contract below is Kafka's, and the contract tests in ``tests/contract`` hold both
backends to it.

Contract, in short:

* Offsets are per partition, start at 0 and increase; records of one partition are
  read in offset order. Offsets may have gaps (Kafka's transaction markers), so
  never assume ``offset + 1`` is the next record.
* A keyed record goes to ``murmur2(key) % partitions`` (Kafka's default partitioner),
  identical on both backends. An explicit ``partition`` overrides it.
* ``produce`` is asynchronous. A record is acknowledged when its delivery callback
  runs without error; ``flush`` waits for every outstanding record and raises
  :class:`~slither_stream.errors.ProduceError` if any failed and had no callback.
  A producer made with ``delivery_reports="errors"`` runs callbacks for failed
  records only: a record is acknowledged once a ``flush`` after it returned.
* Committed offsets are "next offset to read". Consumers in one group share the
  partitions of their subscribed topics; assignment changes are reported through
  the ``on_assign`` / ``on_revoke`` callbacks from inside ``poll_batch`` (never from
  another thread), and revocation happens before another member receives the
  partition, so committing in ``on_revoke`` is safe.
* Consumers read committed data only (``isolation.level=read_committed``): records of
  an aborted transaction are never returned.
* A group's members, each with its ``client_id`` and assigned partitions, can be
  read without joining the group (:meth:`Log.group_members`); that is how a worker
  finds which member owns a partition and the endpoint it advertises.
* Bad arguments (unknown topic, negative counts, bad URL) raise
  :class:`~slither_stream.errors.SlitherError` subclasses at once; nothing hangs.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping, Sequence
from types import TracebackType
from typing import Any, Literal, Self

from slither_stream.log.record_batch import RecordBatch
from slither_stream.log.types import (
    Access,
    GroupMember,
    Headers,
    Outgoing,
    PartitionLag,
    Record,
    RecordMetadata,
    TopicInfo,
    TopicPartition,
    TopicSpec,
)

DeliveryCallback = Callable[[Exception | None, RecordMetadata | None], None]
"""``callback(error, metadata)``: exactly one of the two is None."""

RebalanceCallback = Callable[[list[TopicPartition]], None]

OffsetReset = Literal["earliest", "latest"]

DeliveryReports = Literal["all", "errors"]
"""Which records a producer's delivery callbacks run for (see :meth:`Log.producer`)."""

DELIVERY_REPORTS: tuple[str, ...] = ("all", "errors")


class Producer(ABC):
    """Writes records to topics; optionally transactional."""

    @abstractmethod
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
        """Queue one record. ``value=None`` is a tombstone on compacted topics.

        Raises :class:`UnknownTopicError` for a topic that does not exist and
        ``ConfigError`` for a partition outside the topic. May block briefly when
        the local queue is full (backpressure), never indefinitely.
        """

    def produce_many(self, records: Iterable[Outgoing]) -> None:
        """Queue ``records`` (``(topic, value, key, headers)`` tuples) in order, each
        as :meth:`produce` without a partition
        or callback would (same errors, same backpressure). A stage queues its
        whole batch this way; backends override it to skip the per-call checks.
        On an error the records before the failing one are queued, the rest not."""
        produce = self.produce
        for topic, value, key, headers in records:
            produce(topic, value, key, headers=headers)

    @abstractmethod
    def flush(self, timeout: float | None = None) -> None:
        """Wait until every queued record is acknowledged or failed.

        Raises ``ProduceError`` for failures that had no delivery callback, and
        ``LogError`` if ``timeout`` passes with records still outstanding.
        """

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
        """Produce one record and wait for its acknowledgement."""
        outcome: list[RecordMetadata] = []
        failure: list[Exception] = []

        def record(error: Exception | None, meta: RecordMetadata | None) -> None:
            if error is not None:
                failure.append(error)
            elif meta is not None:
                outcome.append(meta)

        self.produce(topic, value, key, partition=partition, headers=headers,
                     on_delivery=record)
        self.flush(timeout)
        if failure:
            raise failure[0]
        return outcome[0]

    # -- transactions -------------------------------------------------------------

    @property
    @abstractmethod
    def transactional(self) -> bool:
        """True if created with a ``transactional_id``."""

    @abstractmethod
    def begin_transaction(self) -> None:
        """Start a transaction; records produced until commit/abort belong to it."""

    @abstractmethod
    def send_offsets_to_transaction(
        self, consumer: Consumer, offsets: Mapping[TopicPartition, int]
    ) -> None:
        """Make committing ``offsets`` for ``consumer``'s group part of the transaction."""

    @abstractmethod
    def commit_transaction(self, timeout: float | None = None) -> None:
        """Atomically make the transaction's records and offsets visible."""

    @abstractmethod
    def abort_transaction(self, timeout: float | None = None) -> None:
        """Discard the transaction's records and offsets."""

    # -- lifecycle ----------------------------------------------------------------

    @abstractmethod
    def close(self, timeout: float | None = 30.0) -> None:
        """Flush what is queued and release resources. Idempotent."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


class Consumer(ABC):
    """Reads records, as a member of a consumer group or by manual assignment."""

    @property
    @abstractmethod
    def group(self) -> str:
        """The consumer group id."""

    @abstractmethod
    def subscribe(
        self,
        topics: Sequence[str],
        *,
        on_assign: RebalanceCallback | None = None,
        on_revoke: RebalanceCallback | None = None,
    ) -> None:
        """Join the group for ``topics``; partitions arrive through ``poll_batch``."""

    @abstractmethod
    def assign(self, partitions: Iterable[TopicPartition | tuple[TopicPartition, int]]) -> None:
        """Read the given partitions directly, without group membership.

        An entry may carry a start offset; otherwise the committed offset (or the
        reset policy) decides. Used for changelog restore and tools.
        """

    @abstractmethod
    def poll_batch(self, max_records: int = 500, timeout: float = 1.0) -> list[Record]:
        """Return up to ``max_records`` records, waiting at most ``timeout`` seconds.

        Returns as soon as at least one record is available (it does not wait to fill
        the batch). Returns an empty list on timeout. Rebalance callbacks run inside
        this call.
        """

    def poll_records(self, max_records: int = 500, timeout: float = 1.0) -> RecordBatch:
        """:meth:`poll_batch`, returned as columns (see
        :mod:`slither_stream.log.record_batch`): what stages poll with. A backend
        that can fill the columns without a :class:`Record` per record overrides it."""
        return RecordBatch.of(self.poll_batch(max_records, timeout))

    @abstractmethod
    def commit(self, offsets: Mapping[TopicPartition, int] | None = None, *,
               asynchronous: bool = False) -> None:
        """Commit ``offsets`` (next offset to read) for the group.

        With no argument, commits the current position of every assigned partition.
        Synchronous by default: returns once the group stored the offsets, raising
        :class:`LogError` if it refused. ``asynchronous=True`` only sends the commit
        (a stage's hot loop must not wait for the round trip): a refusal is not
        reported, so callers follow up with a synchronous commit where it matters
        (rebalance, shutdown). A backend that stores offsets locally may commit
        synchronously either way.
        """

    @abstractmethod
    def committed(self, partitions: Iterable[TopicPartition]) -> dict[TopicPartition, int | None]:
        """The group's committed offsets (None where nothing was committed)."""

    @abstractmethod
    def position(self, partitions: Iterable[TopicPartition]) -> dict[TopicPartition, int | None]:
        """The offset of the next record ``poll_batch`` would return per partition.

        Transaction markers and aborted records are stepped over once the consumer
        has fetched past them (even right after ``seek``/``assign`` onto a marker),
        so a reader that has caught up reports the partition's end offset.
        """

    @abstractmethod
    def seek(self, partition: TopicPartition, offset: int) -> None:
        """Make the next read of ``partition`` start at ``offset`` (must be assigned)."""

    @abstractmethod
    def pause(self, partitions: Iterable[TopicPartition]) -> None:
        """Stop returning records from ``partitions`` until resumed (membership stays)."""

    @abstractmethod
    def resume(self, partitions: Iterable[TopicPartition]) -> None:
        """Undo :meth:`pause`."""

    @abstractmethod
    def paused(self) -> set[TopicPartition]:
        """Partitions currently paused."""

    @abstractmethod
    def assignment(self) -> set[TopicPartition]:
        """Partitions currently assigned to this consumer."""

    @abstractmethod
    def close(self) -> None:
        """Leave the group (revoking partitions) and release resources. Idempotent.

        Does not commit; commit first if you want the position kept.
        """

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


class Log(ABC):
    """A Kafka-style log: topics, producers, consumers, offsets and lag."""

    @property
    @abstractmethod
    def url(self) -> str:
        """The URL this log was opened with."""

    # -- topics -------------------------------------------------------------------

    @abstractmethod
    def create_topics(self, specs: Iterable[TopicSpec], *, exist_ok: bool = True) -> None:
        """Create topics. An existing topic is fine when ``exist_ok``; otherwise
        :class:`TopicExistsError`. Invalid specs raise ``ConfigError``."""

    def create_topic(self, name: str, partitions: int = 1, *, compacted: bool = False,
                     retention_ms: int | None = None, exist_ok: bool = True) -> None:
        """Shorthand for one :class:`TopicSpec`."""
        self.create_topics(
            [TopicSpec(name, partitions, compacted=compacted, retention_ms=retention_ms)],
            exist_ok=exist_ok,
        )

    @abstractmethod
    def describe_topic(self, name: str) -> TopicInfo:
        """Partitions and cleanup policy of ``name``; ``UnknownTopicError`` if absent."""

    @abstractmethod
    def list_topics(self) -> list[str]:
        """Names of user topics (internal ones excluded), sorted."""

    @abstractmethod
    def delete_topic(self, name: str) -> None:
        """Delete ``name`` and its records and committed offsets."""

    # -- clients ------------------------------------------------------------------

    @abstractmethod
    def producer(self, *, transactional_id: str | None = None, **options: Any) -> Producer:
        """A new producer; transactional when ``transactional_id`` is given.

        Every backend accepts ``delivery_reports``: ``"all"`` (default) runs a
        record's ``on_delivery`` callback when it is delivered or failed;
        ``"errors"`` runs it only for failed records, so a caller that produces
        many records and confirms them with ``flush`` does not pay a callback per
        record (Kafka's ``delivery.report.only.error``). ``send`` needs ``"all"``.
        A bad value raises ``ConfigError``.
        """

    @abstractmethod
    def consumer(
        self,
        group: str,
        *,
        auto_offset_reset: OffsetReset = "earliest",
        client_id: str | None = None,
        **options: Any,
    ) -> Consumer:
        """A new consumer in ``group`` (read-committed, manual commits).

        ``client_id`` names the consumer to the group (what :meth:`group_members`
        reports); by default the log's ``client_id`` option, else a name the backend
        picks. A client id that is not a non-empty string raises ``ConfigError``.
        """

    # -- offsets ------------------------------------------------------------------

    @abstractmethod
    def beginning_offsets(self, partitions: Iterable[TopicPartition]) -> dict[TopicPartition, int]:
        """Offset of the first record still stored per partition."""

    @abstractmethod
    def end_offsets(self, partitions: Iterable[TopicPartition]) -> dict[TopicPartition, int]:
        """Offset the next committed record will get per partition (high watermark,
        or last stable offset for read-committed)."""

    @abstractmethod
    def committed_offsets(
        self, group: str, partitions: Iterable[TopicPartition]
    ) -> dict[TopicPartition, int | None]:
        """A group's committed offsets, read without joining the group."""

    # -- groups -------------------------------------------------------------------

    @abstractmethod
    def group_members(self, group: str) -> list[GroupMember]:
        """The members of consumer group ``group`` now, sorted by ``member_id``, each
        with its ``client_id`` and the partitions it is assigned; read without
        joining the group. A group with no members (or never seen) gives ``[]``.

        Only subscribed consumers are members: readers that ``assign()`` partitions
        are not. While the group rebalances a partition may be in no member's
        assignment; no partition is ever in two. Bounded like every admin call;
        a broker that does not answer raises ``LogError``.
        """

    def partitions_of(self, topic: str) -> list[TopicPartition]:
        """Every partition of ``topic``."""
        info = self.describe_topic(topic)
        return [TopicPartition(topic, p) for p in range(info.partitions)]

    def count_records(self, ranges: Mapping[TopicPartition, tuple[int, int]]
                      ) -> dict[TopicPartition, int]:
        """For each ``partition: (start, end)``, how many records a read-committed
        consumer reading the partition from ``start`` receives before ``end``.

        Offsets are not records where a log has gaps (Kafka's transaction markers
        and aborted records, compacted-away records). This default answers
        ``end - start``, exact for a log without gaps; a backend with gaps counts
        (and documents how far its answer may be off).
        """
        return {tp: max(0, end - start) for tp, (start, end) in ranges.items()}

    def lag(self, group: str, topic: str) -> list[PartitionLag]:
        """Lag of ``group`` on every partition of ``topic``: the records a
        read-committed member of the group would still receive there (see
        :meth:`count_records`), from its committed offset, or from the first stored
        record where it never committed."""
        partitions = self.partitions_of(topic)
        ends = self.end_offsets(partitions)
        committed = self.committed_offsets(group, partitions)
        begins = self.beginning_offsets(partitions)
        ranges: dict[TopicPartition, tuple[int, int]] = {}
        for tp in partitions:
            done = committed.get(tp)
            start = begins[tp] if done is None else max(done, begins[tp])
            if start < ends[tp]:
                ranges[tp] = (start, ends[tp])
        counts = self.count_records(ranges) if ranges else {}
        return [PartitionLag(tp.topic, tp.partition, ends[tp], committed.get(tp),
                             counts.get(tp, 0))
                for tp in partitions]

    def total_lag(self, group: str, topic: str) -> int:
        """Sum of :meth:`lag` over the partitions of ``topic``."""
        return sum(entry.lag for entry in self.lag(group, topic))

    # -- access control -------------------------------------------------------------

    def check_access(self, needed: Iterable[Access]) -> None:
        """Raise :class:`~slither_stream.errors.AuthorizationError` for the first
        permission in ``needed`` the log can tell is missing for this client.

        A backend checks what it can ask about without side effects (Kafka: the
        authorized operations of existing topics, groups and the cluster) and
        leaves the rest to the first use, which raises the same error; one without
        access control (the embedded log) allows everything. Blocking, bounded like
        every admin call.
        """
        return None

    # -- lifecycle ----------------------------------------------------------------

    @abstractmethod
    def close(self) -> None:
        """Release the log. Producers and consumers made from it stop working."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
