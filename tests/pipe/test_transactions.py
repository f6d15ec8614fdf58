"""TransactionalWriter: how an exactly_once stage recovers from a failed transaction.

Fakes stand in for the log's producer and consumer so each failure is exact: a
commit whose outcome the coordinator decided either way, a broker that cannot say
its committed offsets for a while, failures that go on too long.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass, field

import pytest

from slither_stream.errors import LogError, TransactionError
from slither_stream.log.types import Outgoing, Record, TopicPartition
from slither_stream.pipe.engine.commit import exactly_once as transactions
from slither_stream.pipe.engine.commit.exactly_once import TransactionalWriter
from tests.pipe.fakes import Planned

TP = TopicPartition("in", 0)


@dataclass
class FakeProducer:
    fail_commit: list[Exception] = field(default_factory=list)
    produced: list[bytes | None] = field(default_factory=list)
    offsets: list[dict[TopicPartition, int]] = field(default_factory=list)
    aborts: int = 0
    commits: int = 0

    def begin_transaction(self) -> None:
        pass

    def produce(self, topic: str, value: bytes | None, key: bytes | None = None,
                **_: object) -> None:
        self.produced.append(value)

    def produce_many(self, records: Iterable[Outgoing]) -> None:
        self.produced.extend(value for _topic, value, _key, _headers in records)

    def send_offsets_to_transaction(self, consumer: object,
                                    offsets: dict[TopicPartition, int]) -> None:
        self.offsets.append(dict(offsets))

    def commit_transaction(self) -> None:
        if self.fail_commit:
            raise self.fail_commit.pop(0)
        self.commits += 1

    def abort_transaction(self) -> None:
        self.aborts += 1


@dataclass
class FakeConsumer:
    committed_offsets: dict[TopicPartition, int | None]
    committed_failures: int = 0
    seeks: list[tuple[TopicPartition, int]] = field(default_factory=list)

    def assignment(self) -> set[TopicPartition]:
        return {TP}

    def committed(self, partitions: list[TopicPartition]) -> dict[TopicPartition, int | None]:
        if self.committed_failures:
            self.committed_failures -= 1
            raise LogError("coordinator not available")
        return {tp: self.committed_offsets.get(tp) for tp in partitions}

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self.seeks.append((tp, offset))


def batch(first: int, count: int) -> Planned:
    """A fresh planned batch (each write attempt plans its batch anew)."""
    records = [Record("in", 0, offset, None, b"x", ()) for offset in
               range(first, first + count)]
    return Planned(records, [("out", f"{r.offset}".encode(), None, ()) for r in records])


def test_a_committed_transaction_sends_the_batch_offsets_and_counts_nothing_as_failed() -> None:
    producer, consumer = FakeProducer(), FakeConsumer({})
    writer = TransactionalWriter("s", threading.Event())
    assert writer.write(producer, consumer, batch(10, 3))  # type: ignore[arg-type]
    assert producer.offsets == [{TP: 13}] and producer.commits == 1
    assert producer.produced == [b"10", b"11", b"12"] and consumer.seeks == []


@pytest.mark.parametrize(("committed", "expected_seek"), [
    (13, 13),    # the coordinator had accepted the commit: do not process it again
    (10, 10),    # it aborted: re-read the batch
    (None, 10),  # nothing ever committed: the batch's start
])
def test_a_failed_commit_rereads_from_the_committed_offset(
        committed: int | None, expected_seek: int) -> None:
    producer = FakeProducer(fail_commit=[TransactionError("producer client replaced")])
    consumer = FakeConsumer({TP: committed})
    writer = TransactionalWriter("s", threading.Event())
    assert not writer.write(producer, consumer, batch(10, 3))  # type: ignore[arg-type]
    assert producer.aborts == 1
    assert consumer.seeks == [(TP, expected_seek)]
    assert writer.failures == 1


def test_committed_offsets_are_asked_again_until_the_broker_answers(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(transactions, "RESYNC_RETRY_S", 0.01)
    producer = FakeProducer(fail_commit=[TransactionError("cut")])
    consumer = FakeConsumer({TP: 13}, committed_failures=3)
    writer = TransactionalWriter("s", threading.Event())
    writer.write(producer, consumer, batch(10, 3))  # type: ignore[arg-type]
    assert consumer.committed_failures == 0 and consumer.seeks == [(TP, 13)]


def test_the_stage_gives_up_only_when_failures_last_long_enough(
        monkeypatch: pytest.MonkeyPatch) -> None:
    now = [0.0]
    monkeypatch.setattr(transactions.time, "monotonic", lambda: now[0])
    producer = FakeProducer(fail_commit=[TransactionError(f"f{i}") for i in range(20)])
    consumer = FakeConsumer({TP: 10})
    writer = TransactionalWriter("s", threading.Event())
    for _ in range(transactions.MAX_TRANSACTION_FAILURES + 3):  # many, but quick
        assert not writer.write(producer, consumer, batch(10, 3))  # type: ignore[arg-type]
    now[0] += transactions.GIVE_UP_AFTER_S
    with pytest.raises(TransactionError, match="giving up"):
        writer.write(producer, consumer, batch(10, 3))  # type: ignore[arg-type]


def test_a_success_resets_the_failure_streak(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [0.0]
    monkeypatch.setattr(transactions.time, "monotonic", lambda: now[0])
    producer = FakeProducer(fail_commit=[TransactionError("f")] * 6)
    consumer = FakeConsumer({TP: 10})
    writer = TransactionalWriter("s", threading.Event())
    for _ in range(6):
        writer.write(producer, consumer, batch(10, 3))  # type: ignore[arg-type]
    assert writer.write(producer, consumer, batch(10, 3))  # type: ignore[arg-type]
    assert writer.failures == 0
    now[0] += 10 * transactions.GIVE_UP_AFTER_S
    producer.fail_commit.append(TransactionError("after a long good run"))
    assert not writer.write(producer, consumer, batch(10, 3))  # type: ignore[arg-type]
