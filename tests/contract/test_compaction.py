"""Compacted topics keep the last value per key (both backends).

Kafka compacts only closed segments, so the topic rolls a segment every 100 ms and
the test keeps appending filler records (unique keys) while it waits, which closes
the segment holding the duplicates; the embedded log cleans as soon as the topic is
dirty enough. Either way the wait is bounded.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from slither_stream.log import Log, TopicSpec
from tests.contract.helpers import read_all

Namer = Callable[[str], str]

FAST_COMPACTION = {
    "segment.ms": "100",
    "min.cleanable.dirty.ratio": "0.01",
    "delete.retention.ms": "100",
}


def test_compaction_keeps_last_value_per_key(log: Log, unique_name: Namer) -> None:
    topic = unique_name("compacted")
    log.create_topics([TopicSpec(topic, 1, compacted=True, config=dict(FAST_COMPACTION))])
    keys = [f"key-{i}".encode() for i in range(5)]
    with log.producer() as producer:
        for round_ in range(20):
            for key in keys:
                producer.produce(topic, f"{key.decode()}@{round_}".encode(), key)
        producer.produce(topic, None, keys[0])  # delete key-0
        producer.flush(30)

        deadline = time.monotonic() + 60
        filler = 0
        while True:
            records = read_all(log, topic)
            mine = [r for r in records if r.key in keys]
            if len(mine) <= len(keys):
                break
            assert time.monotonic() < deadline, f"still {len(mine)} records for 5 keys"
            producer.produce(topic, b"filler", f"filler-{filler}".encode())
            producer.flush(30)
            filler += 1

    last = {r.key: r.value for r in mine}
    assert len(last) == len(mine), "a key appears twice after compaction"
    for key in keys[1:]:
        assert last[key] == f"{key.decode()}@19".encode()
    assert last.get(keys[0]) is None  # the tombstone, or nothing once it is removed
    offsets = [r.offset for r in records]
    assert offsets == sorted(offsets)
    assert offsets[-1] >= 100  # surviving records keep their original offsets
