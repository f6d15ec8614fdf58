"""Plain value types shared by every log backend."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, NamedTuple

Headers = tuple[tuple[str, bytes], ...]

Outgoing = tuple[str, bytes | None, bytes | None, Sequence[tuple[str, bytes]]]
"""A record to produce to its topic's key partition: ``(topic, value, key, headers)``,
the order of :meth:`~slither_stream.log.base.Producer.produce`'s arguments, as
:meth:`~slither_stream.log.base.Producer.produce_many` takes them. A tuple, not an
object: a stage builds one per record it writes."""


class TopicPartition(NamedTuple):
    """A partition of a topic."""

    topic: str
    partition: int


@dataclass(slots=True)
class Record:
    """One record read from the log. Treat it as immutable.

    Not ``frozen``: a frozen dataclass pays ``object.__setattr__`` per field on
    construction, and consumers build one Record per record read, so that cost
    would land on every stage's hot path.

    ``offset`` is the record's own offset; the position to commit after processing
    it is ``offset + 1`` (Kafka's convention: a committed offset is the next record to
    read).
    """

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Headers = ()
    timestamp_ms: int = 0

    @property
    def topic_partition(self) -> TopicPartition:
        return TopicPartition(self.topic, self.partition)

    def header(self, name: str) -> bytes | None:
        """The last header called ``name``, or None."""
        found = None
        for key, value in self.headers:
            if key == name:
                found = value
        return found


@dataclass(slots=True)
class RecordMetadata:
    """Where the log stored a produced record (the delivery confirmation).

    Treat it as immutable; not ``frozen`` for the same reason as :class:`Record`.
    """

    topic: str
    partition: int
    offset: int
    timestamp_ms: int


@dataclass(frozen=True)
class TopicSpec:
    """The shape of a topic to create.

    ``compacted`` keeps the last value per key (``cleanup.policy=compact``);
    ``retention_ms`` bounds how long records of a non-compacted topic are kept
    (None: the backend's default; -1: forever); ``config`` passes extra backend-specific topic
    configuration through (Kafka topic configs by name).
    """

    name: str
    partitions: int = 1
    compacted: bool = False
    retention_ms: int | None = None
    config: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class TopicInfo:
    """What ``describe_topic`` reports."""

    name: str
    partitions: int
    compacted: bool
    retention_ms: int | None


@dataclass(frozen=True)
class PartitionLag:
    """Lag of one consumer group on one partition.

    ``lag`` counts records, not offsets: what a read-committed member of the group
    would still receive (:meth:`~slither_stream.log.base.Log.lag`), so transaction
    markers and aborted records between ``committed`` and ``end_offset`` are not lag.
    ``committed`` is None when the group never committed; ``lag`` is then measured
    from the partition's beginning offset.
    """

    topic: str
    partition: int
    end_offset: int
    committed: int | None
    lag: int


@dataclass(frozen=True)
class GroupMember:
    """One member of a consumer group, as :meth:`Log.group_members
    <slither_stream.log.base.Log.group_members>` reports it.

    ``client_id`` is what the member's consumer was created with (``client_id=`` of
    ``open_log`` or ``Log.consumer``; Kafka's ``client.id``); ``host`` is where the
    coordinator sees it (Kafka: the client's address; embedded: this host's name).
    ``assignment`` is the partitions the member owns now; during a rebalance a
    partition may be in no member's assignment.
    """

    member_id: str
    client_id: str
    host: str
    assignment: frozenset[TopicPartition]


ResourceType = Literal["TOPIC", "GROUP", "TRANSACTIONAL_ID", "CLUSTER"]
Operation = Literal["READ", "WRITE", "DESCRIBE", "CREATE", "DESCRIBE_CONFIGS",
                    "IDEMPOTENT_WRITE"]
PatternType = Literal["LITERAL", "PREFIXED"]


@dataclass(frozen=True)
class Access:
    """One permission a client of the log needs: ``operation`` on a resource, as a
    Kafka ACL grants it (``kafka-acls --operation OP --topic NAME``).

    ``pattern`` ``"PREFIXED"`` means every resource whose name starts with ``name``
    (the transactional ids of all members of a group, for example). ``reason`` says
    why the pipe needs it (``"input of stage parse"``), for people. Backends without
    access control ignore these (:meth:`Log.check_access
    <slither_stream.log.base.Log.check_access>`).
    """

    resource_type: ResourceType
    name: str
    operation: Operation
    pattern: PatternType = "LITERAL"
    reason: str = ""
