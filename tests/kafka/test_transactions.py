"""Kafka transactions: atomic output + input offsets, abort, and fencing."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from slither_stream.errors import TransactionError
from slither_stream.log import Log, Record, TopicPartition

pytestmark = pytest.mark.kafka


def _all(log: Log, name: str, group: str, expected: int) -> list[Record]:
    """Read committed records of partition 0 from the start (read_committed)."""
    records: list[Record] = []
    with log.consumer(group) as consumer:
        consumer.assign([(TopicPartition(name, 0), 0)])
        for _ in range(20):
            batch = consumer.poll_batch(500, 0.5)
            records += batch
            if not batch and len(records) >= expected:
                break
    return records


def test_committed_transaction_writes_outputs_and_input_offsets_together(
        kafka_log: Log, topic: Callable[..., str], unique_name: Callable[[str], str]) -> None:
    source, sink = topic("tx-in"), topic("tx-out")
    group = unique_name("tx-group")
    with kafka_log.producer() as plain:
        for i in range(3):
            plain.produce(source, str(i).encode())
        plain.flush(30)
    source_tp = TopicPartition(source, 0)
    with kafka_log.consumer(group) as consumer, \
            kafka_log.producer(transactional_id=unique_name("tx")) as producer:
        assert producer.transactional
        consumer.assign([source_tp])
        inputs = consumer.poll_batch(10, 10.0)
        while len(inputs) < 3:
            inputs += consumer.poll_batch(10, 5.0)
        producer.begin_transaction()
        for record in inputs:
            producer.produce(sink, (record.value or b"") + b"!")
        producer.send_offsets_to_transaction(consumer, {source_tp: inputs[-1].offset + 1})
        producer.commit_transaction()
    assert kafka_log.committed_offsets(group, [source_tp]) == {source_tp: 3}
    assert [r.value for r in _all(kafka_log, sink, unique_name("check"), 3)] == [
        b"0!", b"1!", b"2!"]


def test_aborted_transaction_hides_records_and_offsets(
        kafka_log: Log, topic: Callable[..., str], unique_name: Callable[[str], str]) -> None:
    source, sink = topic("abort-in"), topic("abort-out")
    group = unique_name("abort-group")
    source_tp = TopicPartition(source, 0)
    with kafka_log.producer() as plain:
        plain.send(source, b"input")
    with kafka_log.consumer(group) as consumer, \
            kafka_log.producer(transactional_id=unique_name("tx")) as producer:
        consumer.assign([source_tp])
        producer.begin_transaction()
        producer.produce(sink, b"aborted")
        producer.send_offsets_to_transaction(consumer, {source_tp: 1})
        producer.flush(30)
        producer.abort_transaction()
        producer.begin_transaction()
        producer.produce(sink, b"kept")
        producer.commit_transaction()
    assert kafka_log.committed_offsets(group, [source_tp]) == {source_tp: None}
    assert [r.value for r in _all(kafka_log, sink, unique_name("check"), 1)] == [b"kept"]


def test_a_second_producer_with_the_same_id_fences_the_first(
        kafka_log: Log, topic: Callable[..., str], unique_name: Callable[[str], str]) -> None:
    sink = topic("fenced")
    txn_id = unique_name("fence")
    old = kafka_log.producer(transactional_id=txn_id)
    try:
        old.begin_transaction()
        old.produce(sink, b"zombie")
        old.flush(30)
        with kafka_log.producer(transactional_id=txn_id) as new:
            with pytest.raises(TransactionError, match=r"fenced|FENCED|fatal"):
                old.commit_transaction(10)
            new.begin_transaction()
            new.produce(sink, b"successor")
            new.commit_transaction()
    finally:
        old.close(timeout=5)
    assert [r.value for r in _all(kafka_log, sink, unique_name("check"), 1)] == [b"successor"]


def test_transaction_calls_need_a_transactional_producer_and_an_open_transaction(
        kafka_log: Log, topic: Callable[..., str], unique_name: Callable[[str], str]) -> None:
    sink = topic("txn-misuse")
    with kafka_log.producer() as plain, pytest.raises(TransactionError, match="transactional_id"):
        plain.begin_transaction()
    with kafka_log.producer(transactional_id=unique_name("tx")) as producer:
        with pytest.raises(TransactionError, match="begin_transaction"):
            producer.produce(sink, b"outside")
        with pytest.raises(TransactionError):
            producer.commit_transaction()


def test_position_steps_over_the_commit_marker_so_lag_reaches_zero(
        kafka_log: Log, topic: Callable[..., str], unique_name: Callable[[str], str]) -> None:
    name = topic("marker")
    group = unique_name("marker-group")
    tp = TopicPartition(name, 0)
    with kafka_log.producer(transactional_id=unique_name("tx")) as producer:
        producer.begin_transaction()
        for i in range(3):
            producer.produce(name, str(i).encode())
        producer.commit_transaction()
    # The coordinator writes the commit marker just after commit_transaction
    # returns; reading the records (visible only once it is there) waits for it.
    with kafka_log.consumer(group) as consumer:
        consumer.assign([tp])
        records = consumer.poll_batch(10, 10.0)
        while len(records) < 3:
            records += consumer.poll_batch(10, 5.0)
        assert [r.offset for r in records] == [0, 1, 2]
        consumer.poll_batch(10, 0.5)
        assert consumer.position([tp]) == {tp: 4}
        consumer.commit()
    assert kafka_log.end_offsets([tp]) == {tp: 4}  # three records and the marker
    assert kafka_log.total_lag(group, name) == 0
