"""Kafka producer specifics: partition parity, backpressure, delivery failures."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from slither_stream.errors import ConfigError, LogClosedError, ProduceError, UnknownTopicError
from slither_stream.log import Log, RecordMetadata, TopicPartition
from slither_stream.log.partitioner import partition_for_key

pytestmark = pytest.mark.kafka


def test_keys_land_on_the_murmur2_partition(kafka_log: Log, topic: Callable[..., str]) -> None:
    name = topic("parity", partitions=7)
    keys = [f"key-{i}".encode() for i in range(200)] + [b"", b"\x00\xff", "ключ".encode()]
    placed: dict[bytes, int] = {}
    with kafka_log.producer() as producer:
        for key in keys:
            producer.produce(name, b"v", key,
                             on_delivery=lambda err, meta, k=key: placed.__setitem__(
                                 k, meta.partition if meta else -1))
        producer.flush(30)
    assert placed == {key: partition_for_key(key, 7) for key in keys}


def test_a_full_local_queue_blocks_instead_of_dropping(
        kafka_log: Log, topic: Callable[..., str]) -> None:
    name = topic("backpressure")
    delivered: list[RecordMetadata] = []
    config = {"queue.buffering.max.messages": 5, "linger.ms": 0}
    with kafka_log.producer(config=config) as producer:
        for i in range(300):
            producer.produce(name, str(i).encode(),
                             on_delivery=lambda err, meta: delivered.append(meta) if meta else None)
        producer.flush(30)
    assert [meta.offset for meta in delivered] == list(range(300))
    assert kafka_log.end_offsets([TopicPartition(name, 0)]) == {TopicPartition(name, 0): 300}


def test_broker_rejection_reaches_the_callback_or_flush(
        kafka_log: Log, topic: Callable[..., str]) -> None:
    # The topic accepts at most 1 KiB batches; the producer does not know and sends 4 KiB.
    name = topic("too-large", **{"max.message.bytes": "1024"})
    big = b"x" * 4096
    errors: list[Exception | None] = []
    with kafka_log.producer(config={"compression.type": "none"}) as producer:
        producer.produce(name, big, on_delivery=lambda err, meta: errors.append(err))
        producer.flush(30)
        assert len(errors) == 1 and isinstance(errors[0], ProduceError)
        assert name in str(errors[0])

        producer.produce(name, big)  # no callback: flush must raise
        with pytest.raises(ProduceError, match="MSG_SIZE_TOO_LARGE"):
            producer.flush(30)
        producer.flush(30)  # a reported failure is not raised twice


def test_unknown_topic_fails_at_once(kafka_log: Log, unique_name: Callable[[str], str]) -> None:
    started = time.monotonic()
    with kafka_log.producer() as producer, pytest.raises(UnknownTopicError):
        producer.produce(unique_name("missing"), b"x")
    assert time.monotonic() - started < 5.0


def test_partition_outside_the_topic_is_a_config_error(
        kafka_log: Log, topic: Callable[..., str]) -> None:
    name = topic("two", partitions=2)
    with kafka_log.producer() as producer:
        with pytest.raises(ConfigError, match="2 partition"):
            producer.produce(name, b"x", partition=2)
        with pytest.raises(ConfigError):
            producer.produce(name, b"x", partition=-1)
        meta = producer.send(name, b"x", partition=1)
    assert (meta.partition, meta.offset) == (1, 0)


def test_headers_timestamp_and_tombstone_round_trip(
        kafka_log: Log, topic: Callable[..., str]) -> None:
    # A 2023 timestamp is past the broker's default 7-day retention, and the test
    # broker checks retention every 5 s: the record could be deleted before it is
    # read (the CI failure "assert 0 == 1"). This topic keeps its records forever.
    name = topic("roundtrip", **{"retention.ms": "-1"})
    with kafka_log.producer() as producer:
        producer.produce(name, None, b"k", headers=[("a", b"1"), ("a", b"2"), ("b", b"")],
                         timestamp_ms=1_700_000_000_123)
        producer.flush(30)
    with kafka_log.consumer("roundtrip-reader") as consumer:
        consumer.assign([TopicPartition(name, 0)])
        records = consumer.poll_batch(10, 10.0)
    assert len(records) == 1
    record = records[0]
    assert record.value is None and record.key == b"k"
    assert record.headers == (("a", b"1"), ("a", b"2"), ("b", b""))
    assert record.header("a") == b"2"
    assert record.timestamp_ms == 1_700_000_000_123


def test_closed_producer_refuses_work(kafka_log: Log, topic: Callable[..., str]) -> None:
    name = topic("closed")
    producer = kafka_log.producer()
    producer.produce(name, b"queued before close")
    producer.close()
    producer.close()
    with pytest.raises(LogClosedError):
        producer.produce(name, b"x")
    assert kafka_log.end_offsets([TopicPartition(name, 0)])[TopicPartition(name, 0)] == 1
