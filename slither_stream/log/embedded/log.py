"""``EmbeddedLog``: the durable single-host log, with no server to run.

Open it with ``open_log("embedded://PATH")`` or ``EmbeddedLog(PATH)``. One process
may have a directory open at a time (a second opener gets ``LogLockedError``).
Everything else follows the contract in :mod:`slither_stream.log.base`; what is
specific to this backend:

* Durability: a record is acknowledged (callback, ``flush``, ``send``) after its
  RocksDB WAL write returned, so it survives the process being killed; pass
  ``sync=True`` to also fsync (power loss).
* Delivery callbacks run in the thread that wrote the batch: the producer's
  flusher thread (``linger_ms`` after the first buffered record), or the caller of
  ``produce`` (batch full) / ``flush`` / ``send``.
* Offsets have no gaps: transactions write records and offsets in one batch at
  commit, so there are no markers and nothing uncommitted is ever stored.
* Groups live in this process (:meth:`EmbeddedLog.group_members` reports this
  process's members, the host being this machine). Assignment is Kafka's range
  assignor; moves are
  incremental (revoke in the old owner's poll, then assign in the new owner's).
  A member that does not poll for ``max_poll_interval_ms`` (default 300 s) is
  expelled by the others, as on Kafka.
* Cleaning: compacted topics are compacted by the background cleaner thread when
  dirty enough, or now with :meth:`EmbeddedLog.compact`; retention with
  :meth:`EmbeddedLog.enforce_retention`. Kafka topic configs
  (``min.cleanable.dirty.ratio``, ``delete.retention.ms``, ``retention.ms``,
  ``cleanup.policy``) are honoured; other dotted Kafka names are ignored.
"""

from __future__ import annotations

import itertools
import socket
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from slither_stream.errors import ConfigError
from slither_stream.log.base import Log, OffsetReset
from slither_stream.log.embedded._cleaner import (
    Cleaner,
    apply_retention,
    compact_partition,
)
from slither_stream.log.embedded._engine import Engine
from slither_stream.log.embedded._options import (
    LogOptions,
    ProducerOptions,
    check_client_id,
    reject_unknown,
)
from slither_stream.log.embedded.consumer import EmbeddedConsumer
from slither_stream.log.embedded.producer import EmbeddedProducer
from slither_stream.log.types import GroupMember, TopicInfo, TopicPartition, TopicSpec

_ids = itertools.count(1)


class EmbeddedLog(Log):
    """A Kafka-style log stored in RocksDB under one local directory.

    ``options`` are :class:`~slither_stream.log.embedded._options.LogOptions` fields
    (``sync``, ``linger_ms``, ``batch_records``, ``auto_compaction``, ...).
    """

    def __init__(self, path: str | Path, *, url: str | None = None, **options: Any) -> None:
        self._options = LogOptions.from_kwargs(options)
        self.engine = Engine(path, self._options)
        self._url = url or f"embedded://{self.engine.path}"
        self._clients_lock = threading.Lock()
        self._producers: set[EmbeddedProducer] = set()
        self._consumers: set[EmbeddedConsumer] = set()
        self._cleaner: Cleaner | None = None
        if self._options.auto_compaction:
            self._cleaner = Cleaner(self.engine, name=f"slither-embedded-cleaner-{next(_ids)}")
            self.engine.on_dirty = self._cleaner.request

    @property
    def url(self) -> str:
        return self._url

    @property
    def path(self) -> Path:
        """The log directory."""
        return self.engine.path

    # -- topics -------------------------------------------------------------------

    def create_topics(self, specs: Iterable[TopicSpec], *, exist_ok: bool = True) -> None:
        self.engine.create_topics(list(specs), exist_ok)
        if self._cleaner is not None:
            self._cleaner.request()  # a topic with retention changes its schedule

    def describe_topic(self, name: str) -> TopicInfo:
        return self.engine.topic(name).info()

    def list_topics(self) -> list[str]:
        self.engine.check_open()
        with self.engine.cond:
            return sorted(name for name in self.engine.topics if not name.startswith("__"))

    def delete_topic(self, name: str) -> None:
        self.engine.delete_topic(name)

    # -- clients ------------------------------------------------------------------

    def producer(self, *, transactional_id: str | None = None,
                 **options: Any) -> EmbeddedProducer:
        """A producer; ``linger_ms`` / ``batch_records`` override the log's options."""
        self.engine.check_open()
        created = EmbeddedProducer(self, ProducerOptions.from_kwargs(self._options, options),
                                   transactional_id)
        with self._clients_lock:
            self._producers.add(created)
        return created

    def consumer(self, group: str, *, auto_offset_reset: OffsetReset = "earliest",
                 client_id: str | None = None, **options: Any) -> EmbeddedConsumer:
        """A consumer; ``max_poll_interval_ms`` (or Kafka's ``max.poll.interval.ms``)
        bounds how long a group member may go without polling before the others
        expel it (default 300000, as on Kafka)."""
        self.engine.check_open()
        interval = options.pop("max.poll.interval.ms", None)
        interval = options.pop("max_poll_interval_ms", interval)
        reject_unknown(options, "embedded consumer")
        chosen = self._options.client_id if client_id is None else check_client_id(client_id)
        created = EmbeddedConsumer(
            self, group, auto_offset_reset,
            300_000 if interval is None else _as_int(interval, "max_poll_interval_ms"),
            client_id=chosen)
        with self._clients_lock:
            self._consumers.add(created)
        return created

    def forget(self, client: EmbeddedProducer | EmbeddedConsumer) -> None:
        """Called by a client when it closes."""
        with self._clients_lock:
            self._producers.discard(client)
            self._consumers.discard(client)

    # -- groups -------------------------------------------------------------------

    def group_members(self, group: str) -> list[GroupMember]:
        self.engine.check_open()
        if not isinstance(group, str) or not group:
            raise ConfigError(f"consumer group must be a non-empty string, got {group!r}")
        host = socket.gethostname()
        with self.engine.cond:
            members = self.engine.groups.members(group)
            found = [GroupMember(str(m.member_id), m.client_id, host, frozenset(m.owned))
                     for m in members]
        return sorted(found, key=lambda member: int(member.member_id))

    # -- offsets ------------------------------------------------------------------

    def beginning_offsets(self, partitions: Iterable[TopicPartition]) -> dict[TopicPartition, int]:
        return self._offsets(partitions, lambda state, p: state.begins[p])

    def end_offsets(self, partitions: Iterable[TopicPartition]) -> dict[TopicPartition, int]:
        return self._offsets(partitions, lambda state, p: state.ends[p])

    def _offsets(self, partitions: Iterable[TopicPartition],
                 pick: Any) -> dict[TopicPartition, int]:
        engine = self.engine
        engine.check_open()
        resolved = [(TopicPartition(*tp), engine.resolve(tp)) for tp in partitions]
        with engine.cond:
            return {tp: int(pick(state, tp.partition)) for tp, state in resolved}

    def committed_offsets(
        self, group: str, partitions: Iterable[TopicPartition]
    ) -> dict[TopicPartition, int | None]:
        if not isinstance(group, str) or not group:
            raise ConfigError(f"consumer group must be a non-empty string, got {group!r}")
        result: dict[TopicPartition, int | None] = {}
        for tp in partitions:
            state = self.engine.resolve(tp)
            result[TopicPartition(*tp)] = self.engine.committed(group, state, tp[1])
        return result

    # -- cleaning -----------------------------------------------------------------

    def compact(self, topic: str) -> int:
        """Compact every partition of a compacted ``topic`` now.

        Also removes tombstones older than the topic's ``delete.retention.ms``.
        Returns the number of records removed. The background cleaner does the same
        on its own; this is for tools and tests that need it to have happened.
        """
        state = self.engine.topic(topic)
        if not state.compacted:
            raise ConfigError(f"topic {topic!r} is not compacted")
        return sum(compact_partition(self.engine, state, p) for p in range(state.partitions))

    def enforce_retention(self, topic: str) -> int:
        """Remove records of ``topic`` older than its ``retention_ms`` now."""
        state = self.engine.topic(topic)
        if state.retention_ms is None:
            raise ConfigError(f"topic {topic!r} has no retention_ms")
        return sum(apply_retention(self.engine, state, p) for p in range(state.partitions))

    # -- lifecycle ----------------------------------------------------------------

    def close(self) -> None:
        """Flush and close producers, detach consumers, stop the cleaner, close RocksDB."""
        if self.engine.closed:
            return
        with self._clients_lock:
            producers = list(self._producers)
            consumers = list(self._consumers)
        try:
            for producer in producers:
                producer.close()
            for consumer in consumers:
                consumer.detach()
        finally:
            if self._cleaner is not None:
                self._cleaner.stop()
            self.engine.close()

    def __repr__(self) -> str:
        state = "closed" if self.engine.closed else "open"
        return f"EmbeddedLog({str(self.engine.path)!r}, {state})"


def _as_int(value: object, name: str) -> int:
    """Kafka passes config values as strings; accept ``"1000"`` as well as ``1000``."""
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise ConfigError(f"{name} must be an integer, got {value!r}")
