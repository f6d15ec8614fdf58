"""Kafka consumer specifics: prompt batches, seeks before the first fetch,
incremental (cooperative-sticky) rebalances, positions before any record."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from slither_stream.errors import LogError, UnknownTopicError
from slither_stream.log import Consumer, Log, Record, TopicPartition

pytestmark = pytest.mark.kafka


def _fill(log: Log, name: str, count: int, partition: int = 0) -> None:
    with log.producer() as producer:
        for i in range(count):
            producer.produce(name, str(i).encode(), partition=partition)
        producer.flush(30)


def _read(consumer: Consumer, count: int, limit: float = 20.0) -> list[Record]:
    records: list[Record] = []
    deadline = time.monotonic() + limit
    while len(records) < count and time.monotonic() < deadline:
        records += consumer.poll_batch(500, 1.0)
    return records


def test_poll_batch_returns_without_waiting_to_fill_the_batch(
        kafka_log: Log, topic: Callable[..., str]) -> None:
    name = topic("prompt")
    _fill(kafka_log, name, 3)
    with kafka_log.consumer("prompt-reader") as consumer:
        consumer.assign([TopicPartition(name, 0)])
        started = time.monotonic()
        records = consumer.poll_batch(500, 8.0)
        elapsed = time.monotonic() - started
    assert records and [r.value for r in records] == [b"0", b"1", b"2"][: len(records)]
    assert elapsed < 6.0


def test_seek_right_after_assign_before_any_fetch(
        kafka_log: Log, topic: Callable[..., str]) -> None:
    name = topic("seek-early")
    _fill(kafka_log, name, 10)
    tp = TopicPartition(name, 0)
    with kafka_log.consumer("seek-early-reader") as consumer:
        consumer.assign([tp])
        consumer.seek(tp, 7)
        assert consumer.position([tp]) == {tp: 7}
        records = _read(consumer, 3)
        assert [r.offset for r in records] == [7, 8, 9]
        assert consumer.position([tp]) == {tp: 10}
        consumer.seek(tp, 2)
        assert [r.offset for r in consumer.poll_batch(1, 10.0)] == [2]


def test_position_before_the_first_record_follows_commit_then_reset_policy(
        kafka_log: Log, topic: Callable[..., str]) -> None:
    name = topic("position")
    _fill(kafka_log, name, 5)
    tp = TopicPartition(name, 0)
    with kafka_log.consumer("pos-latest", auto_offset_reset="latest") as consumer:
        consumer.assign([tp])
        assert consumer.position([tp]) == {tp: 5}
    with kafka_log.consumer("pos-committed") as consumer:
        consumer.assign([tp])
        assert consumer.position([tp]) == {tp: 0}
        consumer.commit({tp: 3})
    with kafka_log.consumer("pos-committed") as consumer:
        consumer.assign([tp])
        assert consumer.position([tp]) == {tp: 3}
        assert consumer.position([TopicPartition(name, 1)]) == {TopicPartition(name, 1): None}
        assert [r.offset for r in _read(consumer, 2)] == [3, 4]


def test_assign_with_start_offsets(kafka_log: Log, topic: Callable[..., str]) -> None:
    name = topic("assign-offsets", partitions=2)
    _fill(kafka_log, name, 4, partition=0)
    _fill(kafka_log, name, 4, partition=1)
    with kafka_log.consumer("assign-offsets") as consumer:
        consumer.assign([(TopicPartition(name, 0), 3), TopicPartition(name, 1)])
        records = _read(consumer, 5)
    got = sorted((r.partition, r.offset) for r in records)
    assert got == [(0, 3), (1, 0), (1, 1), (1, 2), (1, 3)]


def test_pause_stops_a_partition_and_resume_continues_where_it_stopped(
        kafka_log: Log, topic: Callable[..., str]) -> None:
    name = topic("pause", partitions=2)
    _fill(kafka_log, name, 5, partition=0)
    _fill(kafka_log, name, 5, partition=1)
    p0, p1 = TopicPartition(name, 0), TopicPartition(name, 1)
    with kafka_log.consumer("pause") as consumer:
        consumer.assign([p0, p1])
        consumer.pause([p0])
        assert consumer.paused() == {p0}
        first = _read(consumer, 5, limit=5.0)
        assert {r.partition for r in first} == {1} and len(first) == 5
        assert consumer.poll_batch(100, 0.5) == []
        consumer.resume([p0])
        assert consumer.paused() == set()
        rest = _read(consumer, 5)
    assert [r.offset for r in rest if r.partition == 0] == [0, 1, 2, 3, 4]
    assert all(r.partition == 0 for r in rest)


def test_seek_and_pause_need_an_assigned_partition(
        kafka_log: Log, topic: Callable[..., str]) -> None:
    name = topic("unassigned")
    with kafka_log.consumer("unassigned") as consumer:
        with pytest.raises(LogError, match="not assigned"):
            consumer.seek(TopicPartition(name, 0), 0)
        with pytest.raises(LogError, match="not assigned"):
            consumer.pause([TopicPartition(name, 0)])


def test_subscribing_to_a_missing_topic_fails_at_once(
        kafka_log: Log, unique_name: Callable[[str], str]) -> None:
    with kafka_log.consumer("missing") as consumer, pytest.raises(UnknownTopicError):
        consumer.subscribe([unique_name("missing")])


def test_rebalance_is_incremental(kafka_log: Log, topic: Callable[..., str],
                                  unique_name: Callable[[str], str]) -> None:
    """A joining member takes some partitions; the first member is only told about
    those (cooperative-sticky), keeps the rest, and can commit in on_revoke."""
    name = topic("coop", partitions=4)
    for p in range(4):
        _fill(kafka_log, name, 2, partition=p)
    group = unique_name("coop-group")
    events: list[tuple[str, str, frozenset[TopicPartition]]] = []
    first = kafka_log.consumer(group)
    second = kafka_log.consumer(group)
    # Only the join's revocation commits. close() revokes too, but when a rebalance's
    # assignment is still unserved at close, librdkafka 2.16 takes the reply to it
    # for the revocation's and leaves the group before calling on_revoke, so a commit
    # there fails with UNKNOWN_MEMBER_ID (2 of 8 runs under load).
    committing = True

    def listen(member: str, consumer: Consumer) -> None:
        def revoked(tps: list[TopicPartition]) -> None:
            events.append((member, "revoke", frozenset(tps)))
            if committing:
                consumer.commit()  # still assigned: committing here must work

        consumer.subscribe([name],
                           on_assign=lambda tps: events.append((member, "assign", frozenset(tps))),
                           on_revoke=revoked)

    try:
        listen("first", first)
        assert len(_read(first, 8)) == 8
        assert first.assignment() == {TopicPartition(name, p) for p in range(4)}
        listen("second", second)
        deadline = time.monotonic() + 30
        while (not second.assignment() or len(first.assignment()) == 4) \
                and time.monotonic() < deadline:
            first.poll_batch(100, 0.2)
            second.poll_batch(100, 0.2)
        assert first.assignment() | second.assignment() == {
            TopicPartition(name, p) for p in range(4)}
        assert first.assignment() and not first.assignment() & second.assignment()
        revoked = [tps for member, kind, tps in events if member == "first" and kind == "revoke"]
        assert revoked and set().union(*revoked) == second.assignment()
        # on_revoke committed what the first member had read of the moved partitions
        committed = kafka_log.committed_offsets(group, sorted(second.assignment()))
        assert set(committed.values()) == {2}
        assert second.poll_batch(100, 0.5) == []
        committing = False
    finally:
        second.close()
        first.close()


def test_seek_inside_on_assign_sets_where_reading_starts(
        kafka_log: Log, topic: Callable[..., str], unique_name: Callable[[str], str]) -> None:
    name = topic("seek-on-assign", partitions=2)
    _fill(kafka_log, name, 5, partition=0)
    _fill(kafka_log, name, 5, partition=1)
    with kafka_log.consumer(unique_name("seek-on-assign")) as consumer:
        seen_assigned: list[set[TopicPartition]] = []

        def on_assign(tps: list[TopicPartition]) -> None:
            seen_assigned.append(consumer.assignment())
            for tp in tps:
                consumer.seek(tp, 3)

        consumer.subscribe([name], on_assign=on_assign)
        records = _read(consumer, 4)
    assert seen_assigned and seen_assigned[0] == {TopicPartition(name, 0),
                                                  TopicPartition(name, 1)}
    assert sorted((r.partition, r.offset) for r in records) == [(0, 3), (0, 4), (1, 3), (1, 4)]


@pytest.mark.parametrize("fetched_first", [False, True])
def test_reading_a_deleted_assigned_topic_raises_unknown_topic(
        kafka_log: Log, topic: Callable[..., str], unique_name: Callable[[str], str],
        fetched_first: bool) -> None:
    """Whether librdkafka learns of the deletion from a failed offset lookup (a
    message error) or from fetching (a client error), the reader is told. librdkafka
    declares a vanished topic gone after topic.metadata.propagation.max.ms (30 s by
    default, so a slow-to-propagate new topic is not mistaken for a missing one);
    the test shortens it."""
    name = topic("deleted")
    _fill(kafka_log, name, 1)
    config = {"topic.metadata.propagation.max.ms": 1000}
    with kafka_log.consumer(unique_name("deleted-reader"), config=config) as consumer:
        consumer.assign([TopicPartition(name, 0)])
        if fetched_first:
            assert len(_read(consumer, 1)) == 1
        kafka_log.delete_topic(name)
        with pytest.raises(UnknownTopicError, match=name):
            for _ in range(30):
                consumer.poll_batch(10, 0.5)
