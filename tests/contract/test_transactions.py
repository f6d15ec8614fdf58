"""Transactions: records and input offsets commit together or not at all."""

from __future__ import annotations

from collections.abc import Callable

from slither_stream.log import Log, TopicPartition
from tests.contract.helpers import read_all

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
    assert sorted(r.value for r in read_all(log, sink)) == [b"out-0", b"out-1", b"out-2"]
    assert log.committed_offsets(group, [tp_in]) == {tp_in: 5}


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

    assert [r.value for r in read_all(log, sink)] == [b"kept-1", b"kept-2"]
    assert log.committed_offsets(group, [tp_in]) == {tp_in: 2}


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
