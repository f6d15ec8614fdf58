"""Which member owns the partition of a key, from the consumer group's member list.

A key's partition is Kafka's default partitioner on the key bytes
(:func:`~slither_stream.log.partitioner.partition_for_key`) over the partition
count of the stage's input, the same on both backends; the member whose
assignment holds that input partition owns the key's state.
"""

from __future__ import annotations

from dataclasses import dataclass

from slither_stream.errors import UnknownTopicError
from slither_stream.log.base import Log
from slither_stream.log.partitioner import partition_for_key
from slither_stream.log.types import TopicPartition
from slither_stream.pipe.definition import StagePlan
from slither_stream.pipe.query.advertise import parse


@dataclass(frozen=True)
class Owner:
    """The group member that owns one input partition of a stage."""

    partition: int
    client_id: str
    host: str
    member: str | None
    """The worker's member id (None: the member is not a slither worker)."""
    url: str | None
    """Where it answers state queries (None: it advertises no endpoint)."""


def key_bytes(key: bytes | str) -> bytes:
    """A record key as the stage sees it: ``str`` keys are their UTF-8 bytes."""
    return key.encode() if isinstance(key, str) else key


def input_partitions(log: Log, plan: StagePlan) -> int:
    """Partitions of the stage's input topic (the declared count until it exists)."""
    try:
        return log.describe_topic(plan.input_topic).partitions
    except UnknownTopicError:
        return plan.partitions


def key_partition(key: bytes, partitions: int) -> int:
    """The input partition (and so the state partition) of ``key``."""
    return partition_for_key(key, partitions)


def owner_of(log: Log, plan: StagePlan, partition: int) -> Owner | None:
    """The member of ``plan``'s group assigned input partition ``partition`` now
    (None: none is, during a rebalance or with no worker running the stage)."""
    wanted = TopicPartition(plan.input_topic, partition)
    for member in log.group_members(plan.group):
        if wanted in member.assignment:
            advertised = parse(member.client_id)
            return Owner(partition, member.client_id, member.host,
                         None if advertised is None else advertised.member,
                         None if advertised is None else advertised.url)
    return None
