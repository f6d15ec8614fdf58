"""A group member that owns no partition still leaves the group when it closes.

librdkafka 2.16 (cooperative-sticky) skips the LeaveGroup of a member with an empty
assignment, so the broker keeps it until its session times out (10 s here). Any
rebalance in that window waits for it: the other members' JoinGroup hangs, and
their commits, queued behind the JoinGroup on the coordinator connection, then
fail with ILLEGAL_GENERATION (seen in tests/e2e/test_workers.py: a worker's stop
took 9.4 s and lost its final commit). The backend unsubscribes such a member
before closing it, which does send the LeaveGroup.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from confluent_kafka.admin import AdminClient

from slither_stream.log import Consumer, Log, TopicPartition

pytestmark = pytest.mark.kafka

SESSION_TIMEOUT = 10.0  # session.timeout.ms of the backend's consumers


def _group(admin: AdminClient, group: str) -> tuple[int, str]:
    """Members and state (``STABLE``, ``PREPARING_REBALANCING`` ...) of ``group``."""
    description = admin.describe_consumer_groups([group], request_timeout=10)[group]
    result = description.result(timeout=10)
    return len(result.members), result.state.name


def _poll_until(members: list[Consumer], done: Callable[[], bool], *, timeout: float,
                what: str) -> float:
    """Poll ``members`` (serving their group protocol) until ``done()``; seconds taken."""
    started = time.monotonic()
    while not done():
        elapsed = time.monotonic() - started
        assert elapsed < timeout, f"{what} not within {timeout} s"
        for member in members:
            member.poll_batch(100, 0.2)
    return time.monotonic() - started


def test_member_without_partitions_leaves_the_group_on_close(
        kafka_log: Log, kafka_bootstrap: str, topic: Callable[..., str],
        unique_name: Callable[[str], str]) -> None:
    name, group = topic("idle-member"), unique_name("idle-group")
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    owner, idle = kafka_log.consumer(group), kafka_log.consumer(group)
    try:
        owner.subscribe([name])
        _poll_until([owner], lambda: owner.assignment() == {TopicPartition(name, 0)},
                    timeout=30, what="the owner's assignment")
        idle.subscribe([name])  # one partition, two members: it gets nothing
        _poll_until([owner, idle], lambda: _group(admin, group) == (2, "STABLE"),
                    timeout=30, what="the second member joining")
        idle.poll_batch(100, 0.2)  # serves its (empty) assignment: it is a full member
        assert idle.assignment() == set()
        idle.close()
        # gone at once, not after its session timed out
        _poll_until([owner], lambda: _group(admin, group)[0] == 1,
                    timeout=SESSION_TIMEOUT / 2, what="the idle member leaving")
        assert owner.assignment() == {TopicPartition(name, 0)}
    finally:
        idle.close()
        owner.close()
