"""Consumer groups: two members share a topic and rebalance (both backends)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from slither_stream.log import Log, TopicPartition
from tests.contract.helpers import settle

pytestmark = pytest.mark.also_secured  # the contract over SASL_SSL with ACLs too

Namer = Callable[[str], str]


class Tracker:
    """Records a member's rebalance callbacks."""

    def __init__(self) -> None:
        self.assigned: list[TopicPartition] = []
        self.revoked: list[TopicPartition] = []

    def on_assign(self, partitions: list[TopicPartition]) -> None:
        self.assigned.extend(partitions)

    def on_revoke(self, partitions: list[TopicPartition]) -> None:
        self.revoked.extend(partitions)


def test_two_members_rebalance(log: Log, unique_name: Namer) -> None:
    topic, group = unique_name("shared"), unique_name("group")
    log.create_topic(topic, 4)
    everything = set(log.partitions_of(topic))
    first_calls, second_calls = Tracker(), Tracker()

    first = log.consumer(group)
    second = log.consumer(group)
    try:
        first.subscribe([topic], on_assign=first_calls.on_assign,
                        on_revoke=first_calls.on_revoke)
        settle([first], lambda: first.assignment() == everything)
        assert set(first_calls.assigned) == everything

        second.subscribe([topic], on_assign=second_calls.on_assign,
                         on_revoke=second_calls.on_revoke)

        def split() -> bool:
            a, b = first.assignment(), second.assignment()
            return bool(a) and bool(b) and not (a & b) and (a | b) == everything

        settle([first, second], split)
        owned_by_second = second.assignment()
        assert owned_by_second <= set(first_calls.revoked), \
            "a partition moved without being revoked from its first owner"
        assert owned_by_second <= set(second_calls.assigned)
        assert not set(second_calls.revoked)
    finally:
        second.close()
        first.close()


def test_members_read_disjoint_partitions(log: Log, unique_name: Namer) -> None:
    topic, group = unique_name("split"), unique_name("group")
    log.create_topic(topic, 4)
    everything = set(log.partitions_of(topic))
    first, second = log.consumer(group), log.consumer(group)
    try:
        first.subscribe([topic])
        second.subscribe([topic])

        def split() -> bool:
            a, b = first.assignment(), second.assignment()
            return bool(a) and bool(b) and not (a & b) and (a | b) == everything

        settle([first, second], split)
        with log.producer() as producer:
            for i in range(40):
                producer.produce(topic, str(i).encode(), partition=i % 4)
            producer.flush(30)
        reads: dict[str, list[int]] = {"first": [], "second": []}
        owners = {"first": first.assignment(), "second": second.assignment()}

        def collect() -> bool:
            for name, member in (("first", first), ("second", second)):
                for record in member.poll_batch(100, timeout=0.2):
                    assert record.topic_partition in owners[name]
                    reads[name].append(int(record.value or b""))
            return len(reads["first"]) + len(reads["second"]) >= 40

        settle([], collect)
        assert sorted(reads["first"] + reads["second"]) == list(range(40))
        assert reads["first"] and reads["second"]
    finally:
        second.close()
        first.close()


def test_closed_member_leaves_the_group(log: Log, unique_name: Namer) -> None:
    topic, group = unique_name("leave"), unique_name("group")
    log.create_topic(topic, 2)
    everything = set(log.partitions_of(topic))
    stayer, leaver = log.consumer(group), log.consumer(group)
    try:
        stayer.subscribe([topic])
        leaver.subscribe([topic])
        settle([stayer, leaver],
               lambda: len(stayer.assignment()) == 1 and len(leaver.assignment()) == 1)
        leaver.close()
        settle([stayer], lambda: stayer.assignment() == everything)
    finally:
        leaver.close()
        stayer.close()
