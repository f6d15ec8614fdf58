"""``committed()`` never turns a per-partition error into "nothing committed".

A stage that reads None after a failed transaction re-reads from the batch start;
if the broker answered UNSTABLE_OFFSET_COMMIT (a transaction's offsets still being
written) that batch may in fact be committed, and exactly-once would see it twice.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from confluent_kafka import KafkaError
from confluent_kafka import TopicPartition as KafkaTopicPartition

from slither_stream.errors import LogError
from slither_stream.log import Log, TopicPartition

pytestmark = pytest.mark.kafka


class _Answered:
    """A librdkafka TopicPartition stand-in carrying a per-partition error."""

    def __init__(self, tp: KafkaTopicPartition, code: int) -> None:
        self.topic, self.partition, self.offset = tp.topic, tp.partition, -1001
        self.error = KafkaError(code)


class _FlakyOffsets:
    """Wraps the real client: the first ``failures`` offset fetches answer ``code``."""

    def __init__(self, real: Any, failures: int, code: int) -> None:
        self._real, self.failures, self._code, self.calls = real, failures, code, 0

    def committed(self, partitions: list[KafkaTopicPartition], timeout: float) -> list[Any]:
        self.calls += 1
        if self.calls <= self.failures:
            return [_Answered(tp, self._code) for tp in partitions]
        return list(self._real.committed(partitions, timeout=timeout))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


def test_a_retriable_partition_error_is_retried_until_the_offset_reads(
        kafka_log: Log, topic: Callable[..., str], unique_name: Callable[[str], str]) -> None:
    name = topic("unstable")
    tp = TopicPartition(name, 0)
    with kafka_log.producer() as producer:
        producer.produce(name, b"x", partition=0)
        producer.flush(30)
    with kafka_log.consumer(unique_name("unstable-group")) as consumer:
        consumer.assign([tp])
        consumer.commit({tp: 1})
        flaky = _FlakyOffsets(consumer._consumer,  # type: ignore[attr-defined]
                              failures=2, code=KafkaError.UNSTABLE_OFFSET_COMMIT)
        consumer._consumer = flaky  # type: ignore[attr-defined]
        assert consumer.committed([tp]) == {tp: 1}
        assert flaky.calls == 3


def test_a_lasting_partition_error_raises_naming_the_partition(
        kafka_log: Log, topic: Callable[..., str], unique_name: Callable[[str], str]) -> None:
    name = topic("broken")
    tp = TopicPartition(name, 0)
    with kafka_log.consumer(unique_name("broken-group")) as consumer:
        consumer.assign([tp])
        real = consumer._consumer  # type: ignore[attr-defined]
        consumer._consumer = _FlakyOffsets(  # type: ignore[attr-defined]
            real, failures=1, code=KafkaError.GROUP_AUTHORIZATION_FAILED)
        with pytest.raises(LogError, match=rf"{name}\[0\]"):
            consumer.committed([tp])
        consumer._consumer = real  # type: ignore[attr-defined]
