"""When the commit strategies commit: on the interval, after N records, and before
partitions are revoked (both strategies, both backends)."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

from slither_stream.log import Log
from slither_stream.log.base import Consumer
from slither_stream.log.types import Record, TopicPartition
from slither_stream.pipe.engine.commit import base
from slither_stream.pipe.engine.commit.at_least_once import AtLeastOnce
from slither_stream.pipe.engine.commit.base import CommitStrategy
from slither_stream.pipe.engine.commit.exactly_once import ExactlyOnce
from slither_stream.pipe.engine.tally import Tally
from slither_stream.pipe.engine.write_buffer import WriteBuffer
from tests.pipe.fakes import Planned

Names = Callable[[str], str]


def make(delivery: str, *, interval: float = 3600, records: int = 10**6) -> CommitStrategy:
    if delivery == "exactly_once":
        return ExactlyOnce("s", count=lambda _t: None, buffer=WriteBuffer(), interval=interval,
                           records=records, stop=threading.Event())
    return AtLeastOnce("s", count=lambda _t: None, buffer=WriteBuffer(), interval=interval,
                       records=records)


@pytest.mark.parametrize("delivery", ["at_least_once", "exactly_once"])
def test_a_commit_is_due_on_the_interval_or_after_enough_records(
        monkeypatch: pytest.MonkeyPatch, delivery: str) -> None:
    now = [100.0]
    monkeypatch.setattr(base.time, "monotonic", lambda: now[0])
    commits = make(delivery, interval=0.5, records=3)
    assert not commits.due()
    now[0] += 0.5
    assert commits.due()  # the interval passed
    commits._restart_cadence()
    assert not commits.due()
    records = [Record("in", 0, offset, None, b"x", ()) for offset in range(3)]
    commits._finished(Planned(records, []))
    assert commits.due()  # three records finished


def _poll_all(consumer: Consumer, count: int) -> list[Record]:
    records: list[Record] = []
    for _ in range(120):
        records += consumer.poll_batch(count, 0.5)
        if len(records) >= count:
            return records
    raise AssertionError(f"only {len(records)} of {count} records arrived")


@pytest.mark.parametrize("delivery", ["at_least_once", "exactly_once"])
def test_revoke_commits_what_is_finished_and_forgets_the_partitions(
        log: Log, unique_name: Names, delivery: str) -> None:
    source, sink, group = unique_name("rv-in"), unique_name("rv-out"), unique_name("rv")
    log.create_topic(source, partitions=2)
    log.create_topic(sink)
    with log.producer() as producer:
        for n in range(10):
            producer.produce(source, b"%d" % n, partition=n % 2)
        producer.flush()
    commits = make(delivery)
    tally = Tally()
    tally.consumed = 10
    with log.consumer(group) as consumer, \
            commits.producer(log, "0", group) as producer:
        consumer.subscribe([source])
        records = sorted(_poll_all(consumer, 10), key=lambda r: (r.partition, r.offset))
        commits.write(producer, consumer,
                      Planned(records, [(sink, r.value, None, ()) for r in records], tally))
        partitions = [TopicPartition(source, 0), TopicPartition(source, 1)]
        assert log.committed_offsets(group, partitions) == {tp: None for tp in partitions}
        commits.revoke(producer, consumer, [partitions[0]])
        # everything finished is committed, the revoked partition is forgotten
        assert log.committed_offsets(group, partitions) == {tp: 5 for tp in partitions}
        assert TopicPartition(source, 0) not in commits.tracker.committable()
        assert not commits.uncommitted
