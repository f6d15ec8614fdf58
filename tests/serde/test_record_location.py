"""decode_record: a failure names the topic, partition and offset of the record."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from slither_stream.errors import SerializationError
from slither_stream.log import Log, Record, TopicPartition
from slither_stream.serde import (
    AvroSerde,
    JsonSerde,
    SchemaRegistry,
    StringSerde,
    decode_record,
    decode_record_key,
)


def _record(value: bytes | None, key: bytes | None = None) -> Record:
    return Record(topic="payments", partition=2, offset=41, key=key, value=value)


def test_good_record_decodes() -> None:
    assert decode_record(JsonSerde(), _record(b'{"a": 1}')) == {"a": 1}


def test_tombstone_decodes_to_none() -> None:
    assert decode_record(JsonSerde(), _record(None)) is None
    assert decode_record_key(StringSerde(), _record(b"{}")) is None


def test_bad_value_is_located() -> None:
    with pytest.raises(SerializationError) as caught:
        decode_record(JsonSerde(), _record(b'{"a": '))
    error = caught.value
    assert (error.topic, error.partition, error.offset) == ("payments", 2, 41)
    assert str(error) == (
        "cannot json decode record at topic=payments partition=2 offset=41: "
        "truncated JSON (unexpected end of data: line 1 column 7 (char 6))"
    )
    assert isinstance(error.__cause__, SerializationError)  # the unlocated original


def test_bad_key_is_located() -> None:
    with pytest.raises(SerializationError, match="at topic=payments partition=2 offset=41: "
                                                 "invalid UTF-8 at byte 0"):
        decode_record_key(StringSerde(), _record(b"{}", key=b"\xff"))


def _read_all(log: Log, topic: str, count: int) -> list[Record]:
    consumer = log.consumer(f"{topic}-reader")
    try:
        consumer.assign([(TopicPartition(topic, 0), 0)])
        records: list[Record] = []
        for _ in range(100):  # each poll waits on the log; bounded so a bug cannot hang
            records.extend(consumer.poll_batch(max_records=count, timeout=1.0))
            if len(records) >= count:
                break
        return records
    finally:
        consumer.close()


def test_undecodable_record_on_the_log_is_located(
        log: Log, unique_name: Callable[[str], str], registry: SchemaRegistry) -> None:
    """Bytes that went through a real log come back with their real coordinates."""
    topic = unique_name("serde-located")
    log.create_topic(topic, partitions=1)
    serde = AvroSerde(registry.get("Transaction"), registry=registry)
    good = {"txn_id": "t1", "user_id": "u", "amount": 1.0, "hour": 9}
    with log.producer() as producer:
        producer.send(topic, serde.encode(good), b"u")
        bad_meta = producer.send(topic, b'{"id": "t2"}', b"u")  # JSON on an Avro topic
    records = _read_all(log, topic, 2)
    assert [r.offset for r in records] == [bad_meta.offset - 1, bad_meta.offset]
    assert decode_record(serde, records[0]) == good
    with pytest.raises(SerializationError) as caught:
        decode_record(serde, records[1])
    error = caught.value
    assert (error.topic, error.partition, error.offset) == (topic, 0, bad_meta.offset)
    assert f"at topic={topic} partition=0 offset={bad_meta.offset}" in str(error)
    assert "wrong magic byte 0x7b" in error.reason
