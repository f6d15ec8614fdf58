"""A Kafka producer with ``delivery_reports="errors"`` still reports every failure."""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest

from slither_stream.errors import ProduceError
from slither_stream.log import Log, TopicSpec
from tests.contract.helpers import read_all

pytestmark = pytest.mark.kafka

Namer = Callable[[str], str]


def test_broker_rejections_reach_the_callback_and_flush(kafka_log: Log,
                                                        unique_name: Namer) -> None:
    topic = unique_name("small-records")
    # The broker rejects record batches over 1000 bytes (random bytes: lz4 cannot
    # shrink them under the limit).
    kafka_log.create_topics([TopicSpec(topic, 1, config={"max.message.bytes": "1000"})])
    failures: list[Exception] = []
    with kafka_log.producer(delivery_reports="errors") as producer:
        producer.produce(topic, os.urandom(5000), b"k",
                         on_delivery=lambda error, _meta: failures.append(error)
                         if error is not None else None)
        producer.flush()  # the failure had a callback: reported there, not raised
        assert len(failures) == 1 and "too large" in str(failures[0]).lower()
        producer.produce(topic, os.urandom(5000), b"k")
        with pytest.raises(ProduceError, match=r"(?i)too large"):
            producer.flush()
        producer.produce(topic, b"small", b"k")
        producer.flush()  # the producer carries on after failures


def test_rejections_of_a_batch_reach_flush(kafka_log: Log, unique_name: Namer) -> None:
    """``produce_many`` gives librdkafka no callback per record (the client's
    default report handler takes them): a rejected record, with headers or without,
    still makes ``flush`` raise, and the producer delivers what follows. (The
    broker rejects a whole request, so each write is flushed on its own.)"""
    topic = unique_name("small-batch-records")
    kafka_log.create_topics([TopicSpec(topic, 1, config={"max.message.bytes": "1000"})])
    for headers in ((), (("slither.id", b"7"),)):
        with kafka_log.producer(delivery_reports="errors") as producer:
            producer.produce_many([(topic, b"before", b"k", headers)])
            producer.flush()
            producer.produce_many([(topic, os.urandom(5000), b"k", headers)])
            with pytest.raises(ProduceError, match=r"(?i)too large"):
                producer.flush()
            producer.produce_many([(topic, b"after", b"k", headers)])
            producer.flush()
    values = [r.value for r in read_all(kafka_log, topic)]
    assert values == [b"before", b"after", b"before", b"after"]
