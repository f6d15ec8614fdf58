"""The Kafka consumer turns librdkafka messages into records two ways: a batch from
one topic without errors through C loops, anything else message by message. Both
must give the same records and positions (no broker: messages are built here)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from confluent_kafka import KafkaError, Message
from hypothesis import given, settings
from hypothesis import strategies as st

from slither_stream.errors import LogError
from slither_stream.log.kafka._config import KafkaSettings
from slither_stream.log.kafka._topics import TopicCache
from slither_stream.log.kafka.consumer import KafkaConsumer
from slither_stream.log.types import Record, TopicPartition

TOPIC = "orders"


@pytest.fixture
def consumer() -> Iterator[KafkaConsumer]:
    # Never connects: nothing is polled, only messages built here are converted.
    made = KafkaConsumer(KafkaSettings("127.0.0.1:9"), TopicCache(lambda _topic: 4), "g",
                         config={"log_level": 0})
    made._only_topic = TOPIC  # what subscribe([TOPIC]) sets
    try:
        yield made
    finally:
        made.close()


_bytes = st.none() | st.binary(max_size=8)
_headers = st.none() | st.lists(st.tuples(st.sampled_from(["a", "slither.id"]),
                                          st.binary(max_size=4)), min_size=1, max_size=2)
_fields = st.lists(st.tuples(st.integers(0, 3), _bytes, _bytes, _headers,
                             st.integers(0, 2**41)), max_size=40)


def _messages(fields: list[tuple[int, bytes | None, bytes | None, list[tuple[str, bytes]]
                                 | None, int]]) -> list[Message]:
    next_offset = [0, 0, 0, 0]
    messages = []
    for partition, key, value, headers, timestamp in fields:
        messages.append(Message(topic=TOPIC, partition=partition,
                                offset=next_offset[partition], key=key, value=value,
                                headers=headers, timestamp=(1, timestamp)))
        next_offset[partition] += 3  # gaps, as compaction or transaction markers leave
    return messages


@settings(max_examples=200, deadline=None)
@given(fields=_fields)
def test_both_conversions_give_the_same_records_and_positions(fields: list) -> None:
    first = KafkaConsumer(KafkaSettings("127.0.0.1:9"), TopicCache(lambda _t: 4), "g1",
                          config={"log_level": 0})
    second = KafkaConsumer(KafkaSettings("127.0.0.1:9"), TopicCache(lambda _t: 4), "g2",
                           config={"log_level": 0})
    try:
        first._only_topic = second._only_topic = TOPIC
        messages = _messages(fields)
        fast = first._convert(messages)
        each = second._convert_each(messages)
        assert fast == each
        assert first._positions == second._positions
        assert [(r.partition, r.offset, r.key, r.value, r.timestamp_ms) for r in fast] == [
            (m.partition(), m.offset(), m.key(), m.value(), m.timestamp()[1])
            for m in messages]
        assert all(r.headers == tuple(m.headers() or ()) for r, m in zip(fast, messages,
                                                                          strict=True))
    finally:
        first.close()
        second.close()


def test_positions_are_one_past_the_last_record_of_each_partition(
        consumer: KafkaConsumer) -> None:
    records = consumer._convert(_messages([(0, b"k", b"v", None, 5), (2, None, b"w", None, 6),
                                           (0, b"k", b"x", None, 7)]))
    assert [(r.partition, r.offset) for r in records] == [(0, 0), (2, 0), (0, 3)]
    assert all(isinstance(r, Record) and r.topic == TOPIC for r in records)
    assert consumer._positions == {TopicPartition(TOPIC, 0): 4, TopicPartition(TOPIC, 2): 1}


def test_an_error_in_a_batch_is_raised_after_its_records(consumer: KafkaConsumer) -> None:
    good = _messages([(1, b"k", b"v", None, 5)])
    failed = Message(topic=TOPIC, partition=1, offset=9,
                     error=KafkaError(KafkaError._MSG_TIMED_OUT))
    records = consumer._convert([*good, failed])
    assert [(r.partition, r.offset, r.value) for r in records] == [(1, 0, b"v")]
    with pytest.raises(LogError, match="g"):
        consumer.poll_batch(10, 0)


def test_partition_eof_is_skipped_silently(consumer: KafkaConsumer) -> None:
    eof = Message(topic=TOPIC, partition=0, offset=1,
                  error=KafkaError(KafkaError._PARTITION_EOF))
    records = consumer._convert([*_messages([(0, None, b"v", None, 1)]), eof])
    assert [r.value for r in records] == [b"v"]
    assert consumer._deferred is None
