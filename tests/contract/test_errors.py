"""Bad arguments fail at once with a clear error (both backends)."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from slither_stream.errors import ConfigError, SlitherError, UnknownTopicError
from slither_stream.log import Log, TopicPartition, open_log

Namer = Callable[[str], str]


def test_produce_to_unknown_topic(log: Log, unique_name: Namer) -> None:
    missing = unique_name("missing")
    started = time.monotonic()
    with log.producer() as producer, pytest.raises(UnknownTopicError) as caught:
        producer.produce(missing, b"v", b"k")
    assert missing in str(caught.value)
    assert time.monotonic() - started < 10


def test_subscribe_to_unknown_topic(log: Log, unique_name: Namer) -> None:
    with log.consumer(unique_name("group")) as consumer, pytest.raises(UnknownTopicError):
        consumer.subscribe([unique_name("missing")])


def test_partition_out_of_range(log: Log, unique_name: Namer) -> None:
    topic = unique_name("narrow")
    log.create_topic(topic, 2)
    with log.producer() as producer, pytest.raises(ConfigError, match="partition"):
        producer.produce(topic, b"v", partition=5)
    with log.consumer(unique_name("group")) as consumer, pytest.raises(SlitherError):
        consumer.assign([TopicPartition(topic, 7)])


@pytest.mark.parametrize("url", [
    "nope://somewhere",
    "kafka://",
    "kafka://127.0.0.1:9092/extra/path",
    "http://127.0.0.1:9092",
])
def test_bad_url(url: str) -> None:
    with pytest.raises(ConfigError) as caught:
        open_log(url)
    assert url in str(caught.value)
