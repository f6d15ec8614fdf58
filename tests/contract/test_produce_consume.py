"""Producing, delivery metadata, ordering and the partitioner (both backends)."""

from __future__ import annotations

import time
from collections.abc import Callable
from operator import attrgetter
from typing import NamedTuple

import pytest

from slither_stream.errors import UnknownTopicError
from slither_stream.log import Log, RecordBatch, RecordMetadata, TopicPartition
from slither_stream.log.partitioner import partition_for_key
from slither_stream.log.types import Headers
from tests.contract.helpers import by_partition, consume_n, read_all

pytestmark = pytest.mark.also_secured  # the contract over SASL_SSL with ACLs too

Namer = Callable[[str], str]


def test_send_returns_delivery_metadata(log: Log, unique_name: Namer) -> None:
    topic = unique_name("meta")
    log.create_topic(topic, 1)
    with log.producer() as producer:
        first = producer.send(topic, b"one", b"k", partition=0)
        second = producer.send(topic, b"two", b"k", partition=0)
    assert (first.topic, first.partition) == (topic, 0)
    assert second.offset > first.offset >= 0
    assert first.timestamp_ms > 0
    records = read_all(log, topic)
    assert [(r.offset, r.value) for r in records] == [(first.offset, b"one"),
                                                      (second.offset, b"two")]


def test_delivery_callbacks_report_where_records_went(log: Log, unique_name: Namer) -> None:
    topic = unique_name("callbacks")
    log.create_topic(topic, 3)
    delivered: list[RecordMetadata] = []
    errors: list[Exception] = []

    def on_delivery(error: Exception | None, meta: RecordMetadata | None) -> None:
        if error is not None:
            errors.append(error)
        elif meta is not None:
            delivered.append(meta)

    with log.producer() as producer:
        for i in range(30):
            producer.produce(topic, f"v{i}".encode(), f"k{i}".encode(), on_delivery=on_delivery)
        producer.flush(30)
    assert errors == []
    assert len(delivered) == 30
    stored = {(r.partition, r.offset): r.value for r in read_all(log, topic)}
    assert {(m.partition, m.offset) for m in delivered} == set(stored)


def test_per_partition_order(log: Log, unique_name: Namer) -> None:
    topic = unique_name("order")
    log.create_topic(topic, 3)
    sent: dict[int, list[bytes]] = {}
    with log.producer() as producer:
        for i in range(300):
            key = f"key-{i % 7}".encode()
            value = f"{i:05d}".encode()
            producer.produce(topic, value, key)
            sent.setdefault(partition_for_key(key, 3), []).append(value)
        producer.flush(30)
    with log.consumer(unique_name("order-group")) as consumer:
        consumer.subscribe([topic])
        records = consume_n(consumer, 300, timeout=60)
    grouped = by_partition(records)
    for tp, in_partition in grouped.items():
        offsets = [r.offset for r in in_partition]
        assert offsets == sorted(offsets), f"offsets out of order in {tp}"
        assert [r.value for r in in_partition] == sent[tp.partition]


def test_partitioner_parity(log: Log, unique_name: Namer) -> None:
    """A key lands on murmur2(key) % n, so both backends agree (and Java clients)."""
    topic = unique_name("parity")
    log.create_topic(topic, 7)
    keys = [f"customer-{i}".encode() for i in range(60)] + [b"", b"\x00\xff", b"a" * 33]
    placed: dict[bytes, int] = {}
    with log.producer() as producer:
        for key in keys:
            producer.produce(topic, b"x", key,
                             on_delivery=lambda err, meta, key=key: placed.__setitem__(
                                 key, -1 if meta is None else meta.partition))
        producer.flush(30)
    assert placed == {key: partition_for_key(key, 7) for key in keys}
    assert len(set(placed.values())) == 7  # the keys spread over every partition


def test_record_fields_round_trip(log: Log, unique_name: Namer) -> None:
    topic = unique_name("fields")
    # Kept forever: the first record's 2023 timestamp is past Kafka's default retention.
    log.create_topic(topic, 2, retention_ms=-1)
    headers = [("trace", b"abc"), ("trace", b"def"), ("empty", b"")]
    with log.producer() as producer:
        producer.produce(topic, b"payload", b"key", partition=1, headers=headers,
                         timestamp_ms=1_700_000_000_123)
        producer.produce(topic, None, b"gone", partition=1)
        producer.produce(topic, b"keyless", None, partition=1)
        producer.flush(30)
    first, tombstone, keyless = read_all(log, topic)
    assert first.topic_partition == TopicPartition(topic, 1)
    assert (first.key, first.value, first.timestamp_ms) == (b"key", b"payload",
                                                            1_700_000_000_123)
    assert list(first.headers) == headers
    assert first.header("trace") == b"def"
    assert (tombstone.key, tombstone.value) == (b"gone", None)
    assert (keyless.key, keyless.value) == (None, b"keyless")


def test_keyless_records_all_arrive(log: Log, unique_name: Namer) -> None:
    topic = unique_name("keyless")
    log.create_topic(topic, 3)
    with log.producer() as producer:
        for i in range(1000):
            producer.produce(topic, str(i).encode())
        producer.flush(30)
    records = read_all(log, topic)
    assert sorted(int(r.value or b"") for r in records) == list(range(1000))


class _Out(NamedTuple):
    """A ``(topic, value, key, headers)`` tuple, as produce_many takes them."""

    topic: str
    value: bytes | None
    key: bytes | None = None
    headers: Headers = ()


def test_produce_many_keeps_order_keys_and_headers(log: Log, unique_name: Namer) -> None:
    """A batch goes where single produces would: the key's partition, in order,
    with its headers (a stage's writes travel this way), over two topics."""
    first, second = unique_name("many-a"), unique_name("many-b")
    log.create_topic(first, 3)
    log.create_topic(second, 1)
    batch = [_Out(first if i % 4 else second, f"{i:04d}".encode(), f"k{i % 5}".encode(),
                  (("slither.id", b"%d" % i),) if i % 2 else ())
             for i in range(2_000)]
    with log.producer(delivery_reports="errors") as producer:
        producer.produce_many(batch)
        producer.flush(30)
    for topic, partitions in ((first, 3), (second, 1)):
        sent = [out for out in batch if out.topic == topic]
        stored = read_all(log, topic)
        assert len(stored) == len(sent)
        for tp, records in by_partition(stored).items():
            expected = [out for out in sent
                        if partition_for_key(out.key or b"", partitions) == tp.partition]
            assert [(r.key, r.value, tuple(r.headers)) for r in records] == \
                [(out.key, out.value, out.headers) for out in expected]


def test_produce_many_stops_at_an_unknown_topic(log: Log, unique_name: Namer) -> None:
    """The records before the bad one are queued and delivered; the bad one and
    the rest are not, and the error names the topic."""
    topic, missing = unique_name("many-ok"), unique_name("many-missing")
    log.create_topic(topic, 1)
    batch = [_Out(topic, b"a"), _Out(topic, b"b"), _Out(missing, b"c"), _Out(topic, b"d")]
    with log.producer() as producer:
        with pytest.raises(UnknownTopicError, match=missing):
            producer.produce_many(batch)
        producer.flush(30)
    assert [r.value for r in read_all(log, topic)] == [b"a", b"b"]


def test_poll_records_gives_the_records_poll_batch_gives(log: Log,
                                                         unique_name: Namer) -> None:
    """``poll_records`` (the columns stages poll with) returns what ``poll_batch``
    returns, field by field, and moves the consumer's positions the same way."""
    topic = unique_name("columns")
    log.create_topic(topic, 2)
    with log.producer() as producer:
        for i in range(40):
            headers = (("h", f"{i}".encode()), ("slither.id", b"7")) if i % 3 == 0 else None
            producer.produce(topic, None if i == 5 else f"v{i}".encode(), f"k{i % 6}".encode(),
                             headers=headers)
        producer.flush(30)
    with log.consumer(unique_name("rows")) as rows:
        rows.subscribe([topic])
        expected = consume_n(rows, 40, timeout=60)
    batches: list[RecordBatch] = []
    with log.consumer(unique_name("columns")) as columns:
        columns.subscribe([topic])
        deadline = time.monotonic() + 60
        while sum(map(len, batches)) < 40:
            assert time.monotonic() < deadline, f"got {sum(map(len, batches))} of 40 records"
            batch = columns.poll_records(max_records=7, timeout=1.0)
            assert isinstance(batch, RecordBatch)
            if batch:
                batches.append(batch)
        assert sum(map(len, batches)) == 40
        ends = log.end_offsets(log.partitions_of(topic))
        assert columns.position(list(ends)) == ends
    got = [record for batch in batches for record in batch]
    key = attrgetter("partition", "offset")
    assert sorted(got, key=key) == sorted(expected, key=key)
    for batch in batches:
        assert list(batch.values) == [record.value for record in batch]
        assert list(batch.headers) == [record.headers for record in batch]
        assert batch.last_offsets() == {(r.topic, r.partition): r.offset for r in batch}
