"""Topic validation and the partition-count cache shared by a log's clients.

librdkafka answers a produce or subscribe on a missing topic by retrying until a
timeout; the contract wants :class:`UnknownTopicError` at once. So clients check
this cache first. A miss refreshes it from cluster metadata once (all topics:
asking for one named topic could auto-create it on a broker with
``auto.create.topics.enable``).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable

from slither_stream.errors import ConfigError, UnknownTopicError
from slither_stream.log.types import TopicPartition, TopicSpec

_LEGAL_NAME = re.compile(r"^[A-Za-z0-9._-]{1,249}$")

FetchPartitions = Callable[[], dict[str, int]]
"""Returns ``{topic: partition count}`` for every topic of the cluster."""

ExplainMissing = Callable[[str], None]
"""Called with a topic the cluster's list lacks: raises if that is not because the
topic does not exist (the principal may not see it), else returns."""


def check_topic_name(name: object) -> str:
    """Return ``name`` if Kafka accepts it as a topic name, else raise ConfigError."""
    if not isinstance(name, str) or not _LEGAL_NAME.match(name) or name in (".", ".."):
        raise ConfigError(
            f"bad topic name {name!r}: use 1-249 characters from [A-Za-z0-9._-] "
            "(and not '.' or '..')"
        )
    return name


def check_spec(spec: TopicSpec) -> TopicSpec:
    """Validate a :class:`TopicSpec` before sending it to the broker."""
    if not isinstance(spec, TopicSpec):
        raise ConfigError(f"create_topics expects TopicSpec values, got {type(spec).__name__}")
    check_topic_name(spec.name)
    if isinstance(spec.partitions, bool) or not isinstance(spec.partitions, int) \
            or spec.partitions < 1:
        raise ConfigError(
            f"topic {spec.name!r}: partitions must be a positive integer, got "
            f"{spec.partitions!r}"
        )
    if spec.retention_ms is not None and (
        isinstance(spec.retention_ms, bool)
        or not isinstance(spec.retention_ms, int)
        or spec.retention_ms < -1
        or spec.retention_ms == 0
    ):
        raise ConfigError(
            f"topic {spec.name!r}: retention_ms must be a positive integer, -1 (forever) "
            f"or None, got {spec.retention_ms!r}"
        )
    for key, value in spec.config.items():
        if not isinstance(key, str) or not isinstance(value, str | int | float | bool):
            raise ConfigError(
                f"topic {spec.name!r}: config entries must map a Kafka topic property name "
                f"to a scalar value, got {key!r}={value!r}"
            )
    return spec


def check_partition(tp: object) -> TopicPartition:
    """Coerce ``tp`` to :class:`TopicPartition`, rejecting malformed values."""
    if not isinstance(tp, tuple) or len(tp) != 2:
        raise ConfigError(f"expected a TopicPartition(topic, partition), got {tp!r}")
    topic, partition = tp
    check_topic_name(topic)
    if isinstance(partition, bool) or not isinstance(partition, int) or partition < 0:
        raise ConfigError(f"partition must be a non-negative integer, got {partition!r}")
    return TopicPartition(topic, partition)


class TopicCache:
    """Thread-safe ``topic -> partition count`` map, refreshed on a miss."""

    def __init__(self, fetch: FetchPartitions, *, explain: ExplainMissing | None = None) -> None:
        self._fetch = fetch
        self._explain = explain
        self._known: dict[str, int] = {}
        self._lock = threading.Lock()

    def known(self, topic: str) -> bool:
        """True if ``topic`` is in the cache (no refresh)."""
        return topic in self._known

    def partitions(self, topic: str) -> int:
        """Partition count of ``topic``; :class:`UnknownTopicError` if it does not exist."""
        count = self._known.get(topic)
        if count is not None:
            return count
        self.refresh()
        count = self._known.get(topic)
        if count is None:
            check_topic_name(topic)
            if self._explain is not None:
                self._explain(topic)
            raise UnknownTopicError(topic)
        return count

    def check(self, tp: TopicPartition) -> TopicPartition:
        """Raise if ``tp`` names a missing topic or a partition outside the topic."""
        count = self.partitions(tp.topic)
        if tp.partition >= count:
            # The topic may have grown since we cached it.
            self.forget(tp.topic)
            count = self.partitions(tp.topic)
            if tp.partition >= count:
                raise ConfigError(
                    f"partition {tp.partition} does not exist: topic {tp.topic!r} has "
                    f"{count} partition(s)"
                )
        return tp

    def refresh(self) -> None:
        """Replace the cache with the cluster's current topics."""
        fresh = self._fetch()
        with self._lock:
            self._known = fresh

    def put(self, topic: str, partitions: int) -> None:
        with self._lock:
            self._known[topic] = partitions

    def forget(self, topic: str) -> None:
        with self._lock:
            self._known.pop(topic, None)
