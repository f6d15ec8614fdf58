"""The exactly_once commit strategy: one transaction per interval, and its recovery.

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
from slither_stream.pipe.engine.commit.exactly_once import ExactlyOnce
from slither_stream.pipe.engine.tally import Tally
from slither_stream.pipe.engine.write_buffer import StateTarget, WriteBuffer
from tests.pipe.fakes import Planned

TP = TopicPartition("in", 0)


@dataclass
class FakeProducer:
    fail_commit: list[Exception] = field(default_factory=list)
    produced: list[bytes | None] = field(default_factory=list)
    offsets: list[dict[TopicPartition, int]] = field(default_factory=list)
    begins: int = 0
    aborts: int = 0
    commits: int = 0

    def begin_transaction(self) -> None:
        self.begins += 1

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


class DictTarget(StateTarget):
    """A table held in a dict: what the strategy applies after a commit."""

    def __init__(self) -> None:
        self.topic = "changelog"
        self.rows: dict[bytes, bytes] = {}

    def read(self, key: bytes) -> bytes | None:
        return self.rows.get(key)

    def committed(self, entries: dict[bytes, bytes | None]) -> None:
        for key, value in entries.items():
            if value is None:
                self.rows.pop(key, None)
            else:
                self.rows[key] = value


def batch(first: int, count: int) -> Planned:
    """A fresh planned batch (each write attempt plans its batch anew)."""
    records = [Record("in", 0, offset, None, b"x", ()) for offset in
               range(first, first + count)]
    tally = Tally()
    tally.consumed = count
    return Planned(records, [("out", f"{r.offset}".encode(), None, ()) for r in records],
                   tally)


def strategy(buffer: WriteBuffer | None = None, counted: list[Tally] | None = None
             ) -> ExactlyOnce:
    sink = counted if counted is not None else []
    return ExactlyOnce("s", count=sink.append,
                       buffer=WriteBuffer() if buffer is None else buffer,
                       interval=3600, records=10**6, stop=threading.Event())


def test_one_transaction_spans_every_batch_until_the_commit() -> None:
    producer, consumer = FakeProducer(), FakeConsumer({})
    counted: list[Tally] = []
    commits = strategy(counted=counted)
    commits.write(producer, consumer, batch(10, 3))  # type: ignore[arg-type]
    commits.write(producer, consumer, batch(13, 2))  # type: ignore[arg-type]
    assert producer.begins == 1 and producer.commits == 0 and counted == []
    commits.commit(producer, consumer)  # type: ignore[arg-type]
    assert producer.offsets == [{TP: 15}] and producer.commits == 1
    assert producer.produced == [b"10", b"11", b"12", b"13", b"14"]
    assert [t.consumed for t in counted] == [5] and consumer.seeks == []
    commits.commit(producer, consumer)  # type: ignore[arg-type]
    assert producer.begins == 1 and producer.commits == 1  # nothing open, nothing sent


def test_state_writes_join_the_transaction_and_apply_only_after_it_committed() -> None:
    producer, consumer = FakeProducer(), FakeConsumer({})
    buffer, table = WriteBuffer(), DictTarget()
    commits = strategy(buffer)
    commits.write(producer, consumer, batch(0, 1))  # type: ignore[arg-type]
    buffer.stage()
    buffer.write(table, b"k", b"1")
    buffer.keep()
    producer.fail_commit.append(TransactionError("fenced"))
    commits.commit(producer, consumer)  # type: ignore[arg-type]
    assert producer.produced[-1] == b"1"  # produced into the transaction
    assert table.rows == {} and not buffer  # aborted: dropped, never applied
    assert commits.needs_rewind
    assert commits.rewind(consumer) == {("in", 0)}  # type: ignore[arg-type]
    commits.write(producer, consumer, batch(0, 1))  # type: ignore[arg-type]
    buffer.stage()
    buffer.write(table, b"k", b"2")
    buffer.keep()
    commits.commit(producer, consumer)  # type: ignore[arg-type]
    assert table.rows == {b"k": b"2"}


@pytest.mark.parametrize(("committed", "expected_seek"), [
    (13, 13),    # the coordinator had accepted the commit: do not process it again
    (10, 10),    # it aborted: re-read the records
    (None, 10),  # nothing ever committed: where the records started
])
def test_a_failed_commit_rereads_from_the_committed_offset(
        committed: int | None, expected_seek: int) -> None:
    producer = FakeProducer(fail_commit=[TransactionError("producer client replaced")])
    consumer = FakeConsumer({TP: committed})
    counted: list[Tally] = []
    commits = strategy(counted=counted)
    commits.write(producer, consumer, batch(10, 3))  # type: ignore[arg-type]
    commits.commit(producer, consumer)  # type: ignore[arg-type]
    assert producer.aborts == 1 and commits.failures == 1 and counted == []
    assert commits.needs_rewind
    commits.rewind(consumer)  # type: ignore[arg-type]
    assert consumer.seeks == [(TP, expected_seek)]


def test_committed_offsets_are_asked_again_until_the_broker_answers(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(transactions, "RESYNC_RETRY_S", 0.01)
    producer = FakeProducer(fail_commit=[TransactionError("cut")])
    consumer = FakeConsumer({TP: 13}, committed_failures=3)
    commits = strategy()
    commits.write(producer, consumer, batch(10, 3))  # type: ignore[arg-type]
    commits.commit(producer, consumer)  # type: ignore[arg-type]
    commits.rewind(consumer)  # type: ignore[arg-type]
    assert consumer.committed_failures == 0 and consumer.seeks == [(TP, 13)]


def _fail_once(commits: ExactlyOnce, producer: FakeProducer, consumer: FakeConsumer,
               first: int = 10) -> None:
    commits.write(producer, consumer, batch(first, 3))  # type: ignore[arg-type]
    commits.commit(producer, consumer)  # type: ignore[arg-type]
    if commits.needs_rewind:
        commits.rewind(consumer)  # type: ignore[arg-type]


def test_the_stage_gives_up_only_when_failures_last_long_enough(
        monkeypatch: pytest.MonkeyPatch) -> None:
    now = [0.0]
    monkeypatch.setattr(transactions.time, "monotonic", lambda: now[0])
    producer = FakeProducer(fail_commit=[TransactionError(f"f{i}") for i in range(20)])
    consumer = FakeConsumer({TP: 10})
    commits = strategy()
    for _ in range(transactions.MAX_TRANSACTION_FAILURES + 3):  # many, but quick
        _fail_once(commits, producer, consumer)
    now[0] += transactions.GIVE_UP_AFTER_S
    with pytest.raises(TransactionError, match="giving up"):
        _fail_once(commits, producer, consumer)


def test_a_success_resets_the_failure_streak(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [0.0]
    monkeypatch.setattr(transactions.time, "monotonic", lambda: now[0])
    producer = FakeProducer(fail_commit=[TransactionError("f")] * 6)
    consumer = FakeConsumer({TP: 10})
    commits = strategy()
    for _ in range(6):
        _fail_once(commits, producer, consumer)
    _fail_once(commits, producer, consumer)
    assert commits.failures == 0 and not commits.needs_rewind
    now[0] += 10 * transactions.GIVE_UP_AFTER_S
    producer.fail_commit.append(TransactionError("after a long good run"))
    _fail_once(commits, producer, consumer, first=13)
    assert commits.failures == 1
