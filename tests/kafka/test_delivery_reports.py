"""A Kafka producer with ``delivery_reports="errors"`` still reports every failure."""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest

from slither_stream.errors import ProduceError
from slither_stream.log import Log, TopicSpec

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
