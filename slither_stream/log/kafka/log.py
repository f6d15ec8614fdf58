"""``KafkaLog``: the :class:`~slither_stream.log.base.Log` interface on Apache Kafka.

Opening the log checks that a broker answers within ``connect_timeout`` seconds,
so a wrong URL or a stopped broker is a clear :class:`LogError` at once rather
than a hang later. Producers and consumers made by the log share its topic cache
and are closed with it.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterable, Mapping
from typing import Any

from slither_stream.errors import ConfigError, LogClosedError, SlitherError
from slither_stream.log._secrets import redact_url
from slither_stream.log.base import Consumer, Log, OffsetReset, Producer
from slither_stream.log.kafka._config import LOGGER, settings_from_options
from slither_stream.log.kafka._lag_probe import RecordCounter
from slither_stream.log.kafka.admin import KafkaAdmin
from slither_stream.log.kafka.consumer import KafkaConsumer
from slither_stream.log.kafka.producer import KafkaProducer
from slither_stream.log.types import Access, GroupMember, TopicInfo, TopicPartition, TopicSpec


class KafkaLog(Log):
    """A Kafka cluster seen through the log interface.

    ``bootstrap_servers`` is ``host:port[,host:port...]``. Options:
    ``timeout`` (seconds for admin and metadata requests, default 10),
    ``connect_timeout`` (seconds to wait for a broker when opening, default 5),
    ``config`` (librdkafka properties applied to every client, e.g. security),
    ``client_id`` (the ``client.id`` of every client; see :meth:`group_members`).
    ``producer(config=...)`` and ``consumer(config=...)`` take per-client
    librdkafka overrides.
    """

    def __init__(self, bootstrap_servers: str, *, url: str | None = None,
                 **options: Any) -> None:
        self._settings = settings_from_options(bootstrap_servers, options)
        self._url = url or f"kafka://{self._settings.bootstrap_servers}"
        self._shown_url = redact_url(self._url)
        """The URL for messages: secrets in its query (discouraged) masked."""
        self._admin = KafkaAdmin(self._settings)
        self._admin.check_reachable()
        self._clients: weakref.WeakSet[KafkaProducer | KafkaConsumer] = weakref.WeakSet()
        self._counter = RecordCounter(self._settings)
        self._lock = threading.Lock()
        self._closed = False

    @property
    def url(self) -> str:
        return self._url

    def _check_open(self, what: str) -> None:
        if self._closed:
            raise LogClosedError(f"{what} on a closed Kafka log ({self._shown_url})")

    # -- topics -------------------------------------------------------------------

    def create_topics(self, specs: Iterable[TopicSpec], *, exist_ok: bool = True) -> None:
        self._check_open("create_topics()")
        self._admin.create_topics(specs, exist_ok=exist_ok)

    def describe_topic(self, name: str) -> TopicInfo:
        self._check_open("describe_topic()")
        return self._admin.describe_topic(name)

    def partitions_of(self, topic: str) -> list[TopicPartition]:
        """Every partition of ``topic``, from metadata (no topic configs: a principal
        with READ or WRITE on the topic may ask)."""
        self._check_open("partitions_of()")
        return [TopicPartition(topic, p) for p in range(self._admin.partition_count(topic))]

    def check_access(self, needed: Iterable[Access]) -> None:
        """See :meth:`Log.check_access`: topics' and groups' authorized operations."""
        self._check_open("check_access()")
        self._admin.check_access(needed)

    def list_topics(self) -> list[str]:
        self._check_open("list_topics()")
        return self._admin.list_topics()

    def delete_topic(self, name: str) -> None:
        self._check_open("delete_topic()")
        self._admin.delete_topic(name)

    # -- clients ------------------------------------------------------------------

    def producer(self, *, transactional_id: str | None = None, **options: Any) -> Producer:
        """A producer; ``config={...}`` overrides librdkafka producer properties;
        ``delivery_reports`` as in :meth:`Log.producer`."""
        self._check_open("producer()")
        reports = options.pop("delivery_reports", "all")
        config = _only_config(options, "producer")
        client = KafkaProducer(self._settings, self._admin.topics,
                               transactional_id=transactional_id, config=config,
                               delivery_reports=reports)
        with self._lock:
            self._clients.add(client)
        return client

    def consumer(self, group: str, *, auto_offset_reset: OffsetReset = "earliest",
                 client_id: str | None = None, **options: Any) -> Consumer:
        """A consumer in ``group``; ``config={...}`` overrides librdkafka properties;
        ``client_id`` is its ``client.id`` (default: the log's)."""
        self._check_open("consumer()")
        config = _only_config(options, "consumer")
        client = KafkaConsumer(self._settings, self._admin.topics, group,
                               auto_offset_reset=auto_offset_reset, config=config,
                               client_id=client_id)
        with self._lock:
            self._clients.add(client)
        return client

    # -- offsets ------------------------------------------------------------------

    def beginning_offsets(self, partitions: Iterable[TopicPartition]) -> dict[TopicPartition, int]:
        self._check_open("beginning_offsets()")
        return self._admin.list_offsets(partitions, latest=False)

    def end_offsets(self, partitions: Iterable[TopicPartition]) -> dict[TopicPartition, int]:
        self._check_open("end_offsets()")
        return self._admin.list_offsets(partitions, latest=True)

    def committed_offsets(self, group: str, partitions: Iterable[TopicPartition]
                          ) -> dict[TopicPartition, int | None]:
        self._check_open("committed_offsets()")
        return self._admin.committed_offsets(group, partitions)

    def count_records(self, ranges: Mapping[TopicPartition, tuple[int, int]]
                      ) -> dict[TopicPartition, int]:
        """Records a read_committed consumer receives per range, read by one
        long-lived probe consumer (see :mod:`slither_stream.log.kafka._lag_probe`):
        exact for ranges it has read whole (a drained exactly-once pipe: 0, not one
        per transaction marker), else an upper bound over by the markers and aborted
        records in the unread part. Repeating a call for unchanged ranges reads
        nothing."""
        self._check_open("count_records()")
        return self._counter.count(ranges)

    # -- groups -------------------------------------------------------------------

    def group_members(self, group: str) -> list[GroupMember]:
        """The group's members from the coordinator (DescribeConsumerGroups)."""
        self._check_open("group_members()")
        return self._admin.group_members(group)

    # -- lifecycle ----------------------------------------------------------------

    def close(self) -> None:
        """Close every producer (flushing, bounded) and consumer made from this log."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            clients = list(self._clients)
            self._clients.clear()
        for client in clients:
            try:
                if isinstance(client, KafkaProducer):
                    client.close(timeout=self._settings.timeout)
                else:
                    client.close()
            except SlitherError as exc:  # e.g. records the broker never acknowledged
                LOGGER.warning("closing a Kafka client of %s: %s", self._shown_url, exc)
            except Exception:  # one failing client must not keep the others open
                LOGGER.exception("error while closing a Kafka client of %s", self._shown_url)
        self._counter.close()
        self._admin.close()


def _only_config(options: dict[str, Any], what: str) -> dict[str, Any] | None:
    unknown = sorted(set(options) - {"config"})
    if unknown:
        raise ConfigError(f"unknown Kafka {what} option(s) {', '.join(unknown)}; pass "
                          f"librdkafka properties as config={{...}}")
    config = options.get("config")
    return dict(config) if config is not None else None
