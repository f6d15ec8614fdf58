"""Reading topics back in end-to-end tests, through the consumer's own poll."""

from __future__ import annotations

import time

from slither_stream.log import Log, Record, TopicPartition


def read_topic(log: Log, topic: str, *, timeout: float = 30.0) -> list[Record]:
    """Every record currently in ``topic`` (read up to the end offsets seen now)."""
    partitions = log.partitions_of(topic)
    ends = log.end_offsets(partitions)
    begins = log.beginning_offsets(partitions)
    wanted = {tp: end for tp, end in ends.items() if end > begins[tp]}
    records: list[Record] = []
    if not wanted:
        return records
    consumer = log.consumer(f"reader-{topic}-{time.monotonic_ns()}")
    try:
        consumer.assign([(tp, begins[tp]) for tp in wanted])
        seen = dict(begins)  # one past the highest offset returned, per partition
        deadline = time.monotonic() + timeout
        while any(seen[tp] < end for tp, end in wanted.items()):
            assert time.monotonic() < deadline, f"timed out reading {topic}"
            batch = consumer.poll_batch(500, 0.5)
            for record in batch:
                tp = TopicPartition(record.topic, record.partition)
                if record.offset < wanted.get(tp, 0):
                    records.append(record)
                seen[tp] = max(seen[tp], record.offset + 1)
            if not batch:
                # nothing more to read: transaction markers may fill the last offsets,
                # which the consumer's position has stepped over
                for tp, position in consumer.position(list(wanted)).items():
                    if position is not None:
                        seen[tp] = max(seen[tp], position)
    finally:
        consumer.close()
    return records


def wait_for_records(log: Log, topic: str, count: int, *, timeout: float = 60.0) -> list[Record]:
    """Follow ``topic`` from the beginning until ``count`` records arrived."""
    consumer = log.consumer(f"follower-{topic}-{time.monotonic_ns()}")
    records: list[Record] = []
    try:
        consumer.assign([(tp, 0) for tp in log.partitions_of(topic)])
        deadline = time.monotonic() + timeout
        while len(records) < count:
            assert time.monotonic() < deadline, \
                f"only {len(records)} of {count} records arrived on {topic}"
            records.extend(consumer.poll_batch(500, 0.5))
    finally:
        consumer.close()
    return records
