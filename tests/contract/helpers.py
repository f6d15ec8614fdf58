"""Backend-neutral helpers for the contract tests.

Every wait is bounded by a deadline and advances through the consumer's own
``poll_batch`` (which blocks on the backend), never through fixed sleeps. The one
exception is :func:`eventually`, for Kafka metadata that changes asynchronously
(topic deletion) and has nothing to wait on.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Sequence

from slither_stream.log import Consumer, Log, Record, TopicPartition


def consume_n(consumer: Consumer, count: int, *, timeout: float = 30.0,
              max_records: int = 500) -> list[Record]:
    """Poll until exactly ``count`` records arrived (fails on more or on timeout)."""
    records: list[Record] = []
    deadline = time.monotonic() + timeout
    while len(records) < count:
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"got {len(records)} of {count} records before the deadline"
        records.extend(consumer.poll_batch(max_records=min(max_records, count - len(records)),
                                           timeout=min(remaining, 1.0)))
    assert len(records) == count
    return records


def read_all(log: Log, topic: str, *, timeout: float = 30.0) -> list[Record]:
    """Every record of ``topic`` from the beginning to the current end offsets."""
    partitions = log.partitions_of(topic)
    ends = log.end_offsets(partitions)
    begins = log.beginning_offsets(partitions)
    records: list[Record] = []
    with log.consumer(f"reader-{time.monotonic_ns()}") as consumer:
        consumer.assign([(tp, begins[tp]) for tp in partitions if ends[tp] > begins[tp]])
        deadline = time.monotonic() + timeout
        while True:
            done = consumer.position([tp for tp in partitions if ends[tp] > begins[tp]])
            if all(pos is not None and pos >= ends[tp] for tp, pos in done.items()):
                return records
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"read {len(records)} records of {topic} before the deadline"
            records.extend(consumer.poll_batch(500, timeout=min(remaining, 1.0)))


def settle(consumers: Sequence[Consumer], done: Callable[[], bool], *,
           timeout: float = 60.0) -> list[Record]:
    """Poll every consumer in turn until ``done()``; returns records seen meanwhile."""
    seen: list[Record] = []
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, "group did not settle before the deadline"
        for consumer in consumers:
            seen.extend(consumer.poll_batch(100, timeout=0.2))
    return seen


def eventually(check: Callable[[], bool], *, timeout: float = 30.0,
               what: str = "condition") -> None:
    """Wait for asynchronous broker metadata; backs off between checks."""
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    delay = 0.02
    while not check():
        assert time.monotonic() < deadline, f"{what} did not hold before the deadline"
        pause.wait(delay)
        delay = min(delay * 2, 0.5)


def by_partition(records: Iterable[Record]) -> dict[TopicPartition, list[Record]]:
    grouped: dict[TopicPartition, list[Record]] = {}
    for record in records:
        grouped.setdefault(record.topic_partition, []).append(record)
    return grouped
