"""The lag probe's bounds on the real broker: answers are upper bounds that fall to
the exact count as the probe reads on (``SCAN_OFFSETS`` offsets waited for per
partition per call), a range already read is not read again, and a longer range
only has its new offsets read."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from slither_stream.log import Log, TopicPartition
from slither_stream.log.kafka import _lag_probe
from tests.contract.helpers import eventually

pytestmark = pytest.mark.kafka


def _reads(log: Any) -> list[dict[TopicPartition, int]]:
    """Where each read of the log's probe starts, per partition."""
    counter = log._counter
    starts: list[dict[TopicPartition, int]] = []
    original = counter._read

    def spy(targets: dict[TopicPartition, tuple[int, int]]) -> None:
        starts.append({tp: counter._scans[tp].scanned_to for tp in targets})
        original(targets)

    counter._read = spy
    return starts


def test_probe_reads_each_offset_once_and_converges(
        kafka_log: Log, topic: Callable[..., str], unique_name: Callable[[str], str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_lag_probe, "SCAN_OFFSETS", 4)
    name, group = topic("tail"), unique_name("group")
    tp = TopicPartition(name, 0)
    with kafka_log.producer(transactional_id=unique_name("txn")) as producer:
        for batch in range(3):  # 3 x (5 records + commit marker)
            producer.begin_transaction()
            for i in range(5):
                producer.produce(name, b"kept-%d-%d" % (batch, i), partition=0)
            producer.commit_transaction(30)
        producer.begin_transaction()
        for i in range(12):
            producer.produce(name, b"aborted-%d" % i, partition=0)
        producer.flush(30)
        producer.abort_transaction(30)
    end = 3 * 6 + 12 + 1
    # the coordinator writes the abort marker after abort_transaction returns
    eventually(lambda: kafka_log.end_offsets([tp])[tp] == end, what="the abort marker")
    with kafka_log.consumer(group) as member:
        member.assign([tp])
        member.commit({tp: 3})  # 12 records left to read, then markers and aborts

    reads = _reads(kafka_log)
    answers = [kafka_log.total_lag(group, name) for _ in range(8)]
    assert all(answer >= 12 for answer in answers), answers
    assert answers == sorted(answers, reverse=True), answers
    assert answers[-1] == 12, answers
    starts = [read[tp] for read in reads]
    assert starts[0] == 3 and starts == sorted(set(starts)), starts  # never read twice
    assert len(reads) <= (end - 3 + 3) // 4  # every call read at least its budget

    # drained, as an exactly-once stage leaves it (after the last record): 0, and
    # asking again reads nothing
    with kafka_log.consumer(group) as member:
        member.assign([tp])
        member.commit({tp: 17})
    assert kafka_log.total_lag(group, name) == 0
    known = len(reads)
    assert [kafka_log.total_lag(group, name) for _ in range(3)] == [0, 0, 0]
    assert len(reads) == known

    # k new records: exactly k, reading from where the probe stopped
    with kafka_log.producer() as plain:
        for i in range(2):
            plain.produce(name, b"new-%d" % i, partition=0)
        plain.flush(30)
    assert kafka_log.total_lag(group, name) == 2
    assert reads[-1] == {tp: end}
