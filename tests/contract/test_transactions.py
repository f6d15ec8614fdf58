"""Transactions: records and input offsets commit together or not at all.

On Kafka a committed transaction becomes readable once its markers are written,
shortly after ``commit_transaction`` returns, so reads go through a consumer that
waits for the expected records (bounded), and offsets are checked with a deadline.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from slither_stream.log import Log, Record, TopicPartition
from tests.contract.helpers import consume_n, eventually

pytestmark = pytest.mark.also_secured  # the contract over SASL_SSL with ACLs too
Namer = Callable[[str], str]


def test_commit_makes_records_and_offsets_visible(log: Log, unique_name: Namer) -> None:
    source, sink, group = unique_name("in"), unique_name("out"), unique_name("group")
    log.create_topic(source, 1)
    log.create_topic(sink, 2)
    tp_in = TopicPartition(source, 0)
    with log.consumer(group) as consumer, \
            log.producer(transactional_id=unique_name("txn")) as producer:
        consumer.assign([tp_in])
        assert producer.transactional
        producer.begin_transaction()
        for i in range(3):
            producer.produce(sink, f"out-{i}".encode(), f"k{i}".encode())
        producer.send_offsets_to_transaction(consumer, {tp_in: 5})
        producer.commit_transaction(30)
    assert sorted(r.value for r in _read(log, sink, 3)) == [b"out-0", b"out-1", b"out-2"]
    eventually(lambda: log.committed_offsets(group, [tp_in]) == {tp_in: 5},
               what="offsets committed by the transaction")


def test_abort_discards_records_and_offsets(log: Log, unique_name: Namer) -> None:
    source, sink, group = unique_name("in"), unique_name("out"), unique_name("group")
    log.create_topic(source, 1)
    log.create_topic(sink, 1)
    tp_in = TopicPartition(source, 0)
    with log.consumer(group) as consumer, \
            log.producer(transactional_id=unique_name("txn")) as producer:
        consumer.assign([tp_in])
        producer.begin_transaction()
        producer.produce(sink, b"kept-1", b"k")
        producer.send_offsets_to_transaction(consumer, {tp_in: 2})
        producer.commit_transaction(30)

        producer.begin_transaction()
        for i in range(3):
            producer.produce(sink, f"aborted-{i}".encode(), b"k")
        producer.send_offsets_to_transaction(consumer, {tp_in: 9})
        producer.abort_transaction(30)

        producer.begin_transaction()
        producer.produce(sink, b"kept-2", b"k")
        producer.commit_transaction(30)

    assert [r.value for r in _read(log, sink, 2)] == [b"kept-1", b"kept-2"]
    eventually(lambda: log.committed_offsets(group, [tp_in]) == {tp_in: 2},
               what="offsets committed by the first transaction")


def test_read_committed_consumer_sees_no_aborted_records(log: Log, unique_name: Namer) -> None:
    sink = unique_name("out")
    log.create_topic(sink, 1)
    with log.consumer(unique_name("group")) as reader, \
            log.producer(transactional_id=unique_name("txn")) as producer:
        reader.subscribe([sink])
        producer.begin_transaction()
        producer.produce(sink, b"never", b"k")
        producer.abort_transaction(30)
        producer.begin_transaction()
        producer.produce(sink, b"yes", b"k")
        producer.commit_transaction(30)
        got = []
        while not got or got[-1].value != b"yes":
            batch = reader.poll_batch(10, timeout=10)
            assert batch, "the committed record never arrived"
            got.extend(batch)
        assert [r.value for r in got] == [b"yes"]


def _read(log: Log, topic: str, count: int) -> list[Record]:
    """Exactly ``count`` records of ``topic`` from the start, then nothing more."""
    with log.consumer(f"reader-{topic}") as reader:
        reader.assign([(tp, 0) for tp in log.partitions_of(topic)])
        records = consume_n(reader, count)
        assert reader.poll_batch(10, timeout=1.0) == []
    return records
