"""A group's committed offsets, read through a consumer handle of that group.

Why not the AdminClient: librdkafka's ``ListConsumerGroupOffsets`` handles a
``NOT_COORDINATOR`` answer by asking the client's consumer-group object to look the
coordinator up again, and an AdminClient has no such object: the process dies with
SIGSEGV (librdkafka issue #5040, still open in 2.16). Brokers answer
``NOT_COORDINATOR`` whenever a group's coordinator moves or is still loading, which
is exactly what happens during rebalances and broker restarts, while every pipe
stage measures its downstream lag. The reliability suite's rebalance storm crashed
worker processes this way.

A consumer with ``group.id`` set has that object (and never joins the group unless it
subscribes, which these handles never do), so the same answer makes it find the new
coordinator and retry. With ``isolation.level=read_committed`` librdkafka sends
``require_stable``; an ``UNSTABLE_OFFSET_COMMIT`` answer (a transaction is still
committing offsets) is reported as None so the caller asks again.

Handles are cached per group (least recently used first out, bounded) because a
stage asks for the same group's offsets many times a second.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from confluent_kafka import Consumer as RawConsumer
from confluent_kafka import KafkaError, KafkaException
from confluent_kafka import TopicPartition as KafkaTopicPartition

from slither_stream.errors import LogError
from slither_stream.log.kafka._config import KafkaSettings
from slither_stream.log.kafka._errors import error_code, translate
from slither_stream.log.types import TopicPartition

MAX_HANDLES = 32
"""Groups whose offset handles are kept open; older ones are closed."""


class _Handle:
    """One consumer handle of one group, used by one caller at a time."""

    def __init__(self, consumer: RawConsumer) -> None:
        self.consumer = consumer
        self.lock = threading.Lock()
        self.closed = False

    def close(self) -> None:
        with self.lock:
            if not self.closed:
                self.closed = True
                self.consumer.close()


class CommittedOffsetReader:
    """``committed(group, partitions)`` without the AdminClient (see the module doc)."""

    def __init__(self, settings: KafkaSettings) -> None:
        self._settings = settings
        self._handles: OrderedDict[str, _Handle] = OrderedDict()
        self._lock = threading.Lock()
        self._closed = False

    def committed(self, group: str, wanted: list[TopicPartition]
                  ) -> dict[TopicPartition, int | None] | None:
        """Committed offsets of ``group`` on ``wanted`` (None where nothing is
        committed), or None while a transaction's offsets are still unstable."""
        handle = self._handle(group)
        request = [KafkaTopicPartition(tp.topic, tp.partition) for tp in wanted]
        with handle.lock:
            if handle.closed:
                raise LogError(f"reading committed offsets of group {group!r}: the log "
                               "is closed")
            try:
                answer = handle.consumer.committed(request, timeout=self._settings.timeout)
            except KafkaException as exc:
                if error_code(exc) == KafkaError.UNSTABLE_OFFSET_COMMIT:
                    return None
                raise translate(exc, f"reading committed offsets of group {group!r}") from exc
        result: dict[TopicPartition, int | None] = {}
        for ktp in answer:
            if ktp.error is not None:
                if ktp.error.code() == KafkaError.UNSTABLE_OFFSET_COMMIT:
                    return None
                raise LogError(f"Kafka could not read the committed offset of group "
                               f"{group!r} on {ktp.topic}[{ktp.partition}]: {ktp.error}")
            offset = int(ktp.offset)
            result[TopicPartition(ktp.topic, ktp.partition)] = None if offset < 0 else offset
        return result

    def _handle(self, group: str) -> _Handle:
        evicted: list[_Handle] = []
        with self._lock:
            if self._closed:
                raise LogError(f"reading committed offsets of group {group!r}: the log is "
                               "closed")
            handle = self._handles.get(group)
            if handle is None:
                config = self._settings.consumer_config(group, "earliest", None)
                try:
                    handle = _Handle(RawConsumer(config))
                except KafkaException as exc:
                    raise translate(exc, f"opening an offset reader for group {group!r}") \
                        from exc
                self._handles[group] = handle
                while len(self._handles) > MAX_HANDLES:
                    evicted.append(self._handles.popitem(last=False)[1])
            else:
                self._handles.move_to_end(group)
        for old in evicted:
            old.close()
        return handle

    def close(self) -> None:
        """Close every handle (waiting for a call in progress on it)."""
        with self._lock:
            self._closed = True
            handles = list(self._handles.values())
            self._handles.clear()
        for handle in handles:
            handle.close()
