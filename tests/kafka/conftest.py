"""Fixtures for the Kafka-only tests: a log on the session's real broker."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from slither_stream.log import Log, TopicSpec, open_log


@pytest.fixture
def kafka_log(kafka_bootstrap: str) -> Iterator[Log]:
    """A :class:`KafkaLog` on the test broker, closed after the test."""
    opened = open_log(f"kafka://{kafka_bootstrap}")
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture
def topic(kafka_log: Log, unique_name: Callable[[str], str]) -> Callable[..., str]:
    """Create a uniquely named topic: ``topic("base", partitions=3)``."""

    def make(base: str, partitions: int = 1, **config: str) -> str:
        name = unique_name(base)
        kafka_log.create_topics([TopicSpec(name, partitions, config=dict(config))])
        return name

    return make
