"""Commits, resume after reopening, seek, pause/resume and lag (both backends)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from slither_stream.log import Log, TopicPartition, open_log
from tests.contract.helpers import consume_n, settle

Namer = Callable[[str], str]


@pytest.fixture
def reopen(log_url: str) -> Iterator[Callable[[], Log]]:
    """Open the same log again (for embedded: the same directory); closed at the end."""
    opened: list[Log] = []

    def open_again() -> Log:
        again = open_log(log_url)
        opened.append(again)
        return again

    yield open_again
    for item in opened:
        item.close()


def _produce(log: Log, topic: str, count: int, partition: int = 0) -> None:
    with log.producer() as producer:
        for i in range(count):
            producer.produce(topic, f"{i}".encode(), b"k", partition=partition)
        producer.flush(30)


def test_commit_and_resume_after_reopening(log: Log, unique_name: Namer,
                                           reopen: Callable[[], Log]) -> None:
    topic, group = unique_name("resume"), unique_name("group")
    log.create_topic(topic, 1)
    _produce(log, topic, 10)
    tp = TopicPartition(topic, 0)
    with log.consumer(group) as consumer:
        consumer.subscribe([topic])
        first = consume_n(consumer, 4, max_records=4)
        assert [r.value for r in first] == [b"0", b"1", b"2", b"3"]
        consumer.commit({tp: first[-1].offset + 1})
        assert consumer.committed([tp]) == {tp: first[-1].offset + 1}
    log.close()

    again = reopen()
    assert again.committed_offsets(group, [tp]) == {tp: first[-1].offset + 1}
    with again.consumer(group) as consumer:
        consumer.subscribe([topic])
        rest = consume_n(consumer, 6)
        assert [r.value for r in rest] == [str(i).encode() for i in range(4, 10)]
        assert consumer.poll_batch(10, timeout=0.5) == []


def test_commit_without_arguments_commits_positions(log: Log, unique_name: Namer) -> None:
    topic, group = unique_name("positions"), unique_name("group")
    log.create_topic(topic, 1)
    _produce(log, topic, 5)
    tp = TopicPartition(topic, 0)
    with log.consumer(group) as consumer:
        consumer.subscribe([topic])
        records = consume_n(consumer, 5)
        assert consumer.position([tp]) == {tp: records[-1].offset + 1}
        consumer.commit()
    assert log.committed_offsets(group, [tp]) == {tp: records[-1].offset + 1}


def test_seek(log: Log, unique_name: Namer) -> None:
    topic = unique_name("seek")
    log.create_topic(topic, 1)
    _produce(log, topic, 8)
    tp = TopicPartition(topic, 0)
    with log.consumer(unique_name("group")) as consumer:
        consumer.assign([(tp, 0)])
        records = consume_n(consumer, 8)
        consumer.seek(tp, records[5].offset)
        again = consume_n(consumer, 3)
        assert [r.value for r in again] == [b"5", b"6", b"7"]
        assert again[0].offset == records[5].offset


def test_assign_with_start_offset(log: Log, unique_name: Namer) -> None:
    topic = unique_name("assign")
    log.create_topic(topic, 2)
    _produce(log, topic, 6, partition=1)
    tp = TopicPartition(topic, 1)
    with log.consumer(unique_name("group")) as consumer:
        consumer.assign([(tp, 2)])
        assert consumer.assignment() == {tp}
        assert [r.value for r in consume_n(consumer, 4)] == [b"2", b"3", b"4", b"5"]


def test_pause_and_resume(log: Log, unique_name: Namer) -> None:
    topic = unique_name("pause")
    log.create_topic(topic, 2)
    _produce(log, topic, 5, partition=0)
    _produce(log, topic, 5, partition=1)
    p0, p1 = TopicPartition(topic, 0), TopicPartition(topic, 1)
    with log.consumer(unique_name("group")) as consumer:
        consumer.assign([(p0, 0), (p1, 0)])
        consumer.pause([p0])
        assert consumer.paused() == {p0}
        first = consume_n(consumer, 5)
        assert {r.partition for r in first} == {1}
        assert consumer.poll_batch(10, timeout=0.5) == []
        consumer.resume([p0])
        assert consumer.paused() == set()
        rest = consume_n(consumer, 5)
        assert {r.partition for r in rest} == {0}


def test_lag(log: Log, unique_name: Namer) -> None:
    topic, group = unique_name("lag"), unique_name("group")
    log.create_topic(topic, 2)
    _produce(log, topic, 10, partition=0)
    _produce(log, topic, 5, partition=1)
    p0, p1 = TopicPartition(topic, 0), TopicPartition(topic, 1)
    assert log.end_offsets([p0, p1]) == {p0: 10, p1: 5}
    assert log.beginning_offsets([p0, p1]) == {p0: 0, p1: 0}
    with log.consumer(group) as consumer:
        consumer.assign([p0, p1])
        consumer.commit({p0: 4})
    lags = {(entry.partition): entry for entry in log.lag(group, topic)}
    assert (lags[0].end_offset, lags[0].committed, lags[0].lag) == (10, 4, 6)
    assert (lags[1].end_offset, lags[1].committed, lags[1].lag) == (5, None, 5)
    assert log.total_lag(group, topic) == 11


def test_group_resumes_from_commit_after_rebalance(log: Log, unique_name: Namer) -> None:
    """A partition handed to another member starts at the offset committed on revoke."""
    topic, group = unique_name("handover"), unique_name("group")
    log.create_topic(topic, 2)
    _produce(log, topic, 6, partition=0)
    _produce(log, topic, 6, partition=1)
    first = log.consumer(group)
    second = log.consumer(group)
    try:
        first.subscribe([topic], on_revoke=lambda parts: first.commit())
        consume_n(first, 12)
        second.subscribe([topic])
        settle([first, second],
               lambda: len(first.assignment()) == 1 and len(second.assignment()) == 1)
        assert second.poll_batch(10, timeout=1.0) == []  # nothing re-delivered
    finally:
        second.close()
        first.close()
