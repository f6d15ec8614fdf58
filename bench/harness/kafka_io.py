"""Topics, input data and output counting, with the raw confluent-kafka client.

The harness talks to the broker directly (not through slither) so that measuring
costs every system the same and does not depend on the code under test.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from cases import work
from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

PARTITIONS = 4
STALL_S = 60.0
"""A system that wrote nothing for this long after its first output is stuck."""


def create_topics(bootstrap: str, names: Sequence[str], partitions: int = PARTITIONS) -> None:
    """Create ``names`` (``partitions`` each); fails loudly on anything but 'exists'."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.create_topics([NewTopic(name, partitions, 1) for name in names],
                                  operation_timeout=30)
    for name, future in futures.items():
        try:
            future.result(60)
        except KafkaException as error:
            if "TOPIC_ALREADY_EXISTS" not in str(error):
                raise RuntimeError(f"cannot create topic {name!r}: {error}") from error


def produce_records(bootstrap: str, topic: str, first: int, count: int, *,
                    key: Callable[[int], bytes] = work.key_of,
                    value: Callable[[int, int], Any] = work.record,
                    compression: str = "lz4",
                    partition: Callable[[int], int] | None = None) -> float:
    """Produce records ``first .. first+count-1`` of the stream (``value(n, now_ms)``
    keyed ``key(n)``, to partition ``partition(n)`` if given, else by librdkafka's
    default partitioner); return seconds taken."""
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20,
                         "compression.type": compression, "batch.size": 1_000_000,
                         "queue.buffering.max.messages": 2_000_000})
    started = time.perf_counter()
    now_ms = int(time.time() * 1000)
    for n in range(first, first + count):
        encoded = orjson.dumps(value(n, now_ms))
        where = {} if partition is None else {"partition": partition(n)}
        while True:
            try:
                producer.produce(topic, encoded, key(n), **where)
                break
            except BufferError:
                producer.poll(0.1)
    left = producer.flush(300)
    if left:
        raise RuntimeError(f"{left} input records of {topic} were not acknowledged")
    return time.perf_counter() - started


def end_offsets(bootstrap: str, topics: Sequence[str]) -> int:
    """Sum of the high watermarks of every partition of ``topics``."""
    return sum(current_ends(bootstrap, topics).values())


@dataclass
class Arrivals:
    """When output records became readable (committed) on the output topics."""

    count: int = 0
    first_batch: int = 0
    """Records in the poll that returned the first output (they arrived at ``first``)."""
    first: float | None = None
    last: float | None = None
    timed_out: bool = False
    stalled: bool = False
    """No output for ``stall`` seconds after the first: the system stopped short."""
    process_died: bool = False
    budget_spent: bool = False
    """Output kept coming for ``budget`` seconds: measuring stopped there."""
    half: float | None = None
    """When the count first reached half of what was wanted."""
    half_count: int = 0
    """The count at ``half`` (the poll that crossed it included)."""
    notes: list[str] = field(default_factory=list)


class OutputCounter:
    """Counts records as they become readable on the output topics.

    Assigned (no group) from ``start`` offsets, ``read_committed`` so transactional
    output counts when committed. Values are not decoded: counting must be cheap.
    """

    def __init__(self, bootstrap: str, topics: Sequence[str],
                 start: dict[tuple[str, int], int] | None = None) -> None:
        self.consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "bench-counter",
                                  "enable.auto.commit": False,
                                  "isolation.level": "read_committed",
                                  "fetch.wait.max.ms": 50})
        assignment = []
        for topic in topics:
            metadata = self.consumer.list_topics(topic, timeout=30).topics[topic]
            for partition in metadata.partitions:
                offset = (start or {}).get((topic, partition), 0)
                assignment.append(TopicPartition(topic, partition, offset))
        self.consumer.assign(assignment)

    def wait_for(self, wanted: int, *, timeout: float, alive: Callable[[], bool],
                 stall: float = STALL_S, budget: float | None = None) -> Arrivals:
        """Read until ``wanted`` records arrived, ``timeout`` passed, nothing arrived
        for ``stall`` seconds after the first output, ``budget`` seconds passed
        since the first output, or ``alive()`` is false (the system exited); the
        client's own poll is the wait."""
        arrivals = Arrivals()
        deadline = time.monotonic() + timeout
        while arrivals.count < wanted:
            now = time.monotonic()
            if now > deadline:
                arrivals.timed_out = True
                break
            if budget is not None and arrivals.first is not None \
                    and now - arrivals.first > budget:
                arrivals.budget_spent = True
                break
            if arrivals.last is not None and now - arrivals.last > stall:
                arrivals.stalled = True
                break
            if not alive():
                arrivals.process_died = True
                break
            batch = self.consumer.consume(10_000, 0.2)
            if not batch:
                continue
            now = time.monotonic()
            good = 0
            for message in batch:
                error = message.error()
                if error is None:
                    good += 1
                else:
                    arrivals.notes.append(str(error))
            if good:
                if arrivals.first is None:
                    arrivals.first = now
                    arrivals.first_batch = good
                arrivals.last = now
                arrivals.count += good
                if arrivals.half is None and arrivals.count * 2 >= wanted:
                    arrivals.half, arrivals.half_count = now, arrivals.count
        return arrivals

    def close(self) -> None:
        self.consumer.close()


def sample_values(bootstrap: str, topics: Sequence[str], count: int,
                  timeout: float = 30.0) -> list[Any]:
    """Up to ``count`` decoded values from the start of ``topics`` (to check what a
    system wrote, not only how much)."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "bench-sample",
                         "enable.auto.commit": False, "isolation.level": "read_committed"})
    values: list[Any] = []
    try:
        assignment = []
        for topic in topics:
            metadata = consumer.list_topics(topic, timeout=30).topics[topic]
            assignment += [TopicPartition(topic, p, 0) for p in metadata.partitions]
        consumer.assign(assignment)
        deadline = time.monotonic() + timeout
        while len(values) < count and time.monotonic() < deadline:
            for message in consumer.consume(min(count - len(values), 10_000), 1.0):
                if message.error() is None:
                    values.append(orjson.loads(message.value()))
        return values
    finally:
        consumer.close()


def current_ends(bootstrap: str, topics: Sequence[str]) -> dict[tuple[str, int], int]:
    """High watermark per (topic, partition): where a counter should start."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "bench-offsets",
                         "isolation.level": "read_committed"})
    try:
        ends = {}
        for topic in topics:
            metadata = consumer.list_topics(topic, timeout=30).topics[topic]
            for partition in metadata.partitions:
                _low, high = consumer.get_watermark_offsets(
                    TopicPartition(topic, partition), timeout=30)
                ends[(topic, partition)] = high
        return ends
    finally:
        consumer.close()


READ_IDLE_S = 10.0
"""``read_all`` stops after this long without a record even if a partition's
position is short of its end (an open transaction holds a read_committed reader at
its first offset)."""


def read_all(bootstrap: str, topics: Sequence[str]) -> Iterator[tuple[bytes | None,
                                                                     bytes | None]]:
    """Every committed record of ``topics`` as ``(key, value)``, in offset order per
    partition, up to the end offsets as they are when reading starts (run it once
    the system has stopped)."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "bench-read-all",
                         "enable.auto.commit": False, "isolation.level": "read_committed",
                         "fetch.wait.max.ms": 50})
    try:
        ends = {}
        for (topic, partition), high in current_ends(bootstrap, topics).items():
            if high > 0:
                ends[(topic, partition)] = high
        consumer.assign([TopicPartition(topic, partition, 0) for topic, partition in ends])
        idle_since = time.monotonic()
        while ends:
            batch = consumer.consume(10_000, 0.5)
            for message in batch:
                if message.error() is None:
                    yield message.key(), message.value()
            if batch:
                idle_since = time.monotonic()
            elif time.monotonic() - idle_since > READ_IDLE_S:
                return
            # position() skips transaction markers: the last data record's offset + 1
            # may be short of the high watermark
            positions = consumer.position([TopicPartition(t, p) for t, p in ends])
            for tp in positions:
                if tp.offset >= ends[(tp.topic, tp.partition)]:
                    ends.pop((tp.topic, tp.partition))
    finally:
        consumer.close()
