"""Compaction and retention specifics of the embedded log."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from slither_stream.errors import ConfigError
from slither_stream.log import TopicPartition, TopicSpec
from slither_stream.log.embedded import EmbeddedLog
from tests.contract.helpers import eventually, read_all

TP = TopicPartition("table", 0)


def _fill(log: EmbeddedLog, rounds: int, keys: int, topic: str = "table") -> None:
    with log.producer() as producer:
        for round_ in range(rounds):
            for key in range(keys):
                producer.produce(topic, f"{key}@{round_}".encode(), f"k{key}".encode())
        producer.flush()


def test_explicit_compaction_keeps_offsets_of_survivors(
        open_embedded: Callable[..., EmbeddedLog]) -> None:
    log = open_embedded(auto_compaction=False)
    log.create_topic("table", 1, compacted=True)
    _fill(log, rounds=10, keys=4)  # offsets 0..39; the last round is 36..39
    assert log.end_offsets([TP]) == {TP: 40}

    removed = log.compact("table")

    assert removed == 36
    records = read_all(log, "table")
    assert [(r.offset, r.value) for r in records] == [
        (36, b"0@9"), (37, b"1@9"), (38, b"2@9"), (39, b"3@9")]
    assert log.beginning_offsets([TP]) == {TP: 36}
    assert log.end_offsets([TP]) == {TP: 40}
    assert log.compact("table") == 0  # idempotent


def test_tombstones_are_removed_after_delete_retention(
        open_embedded: Callable[..., EmbeddedLog]) -> None:
    log = open_embedded(auto_compaction=False)
    log.create_topics([TopicSpec("table", 1, compacted=True,
                                 config={"delete.retention.ms": "3600000"})])
    now = time.time_ns() // 1_000_000
    with log.producer() as producer:
        producer.produce("table", b"v", b"old")
        producer.produce("table", None, b"old", timestamp_ms=now - 7_200_000)  # expired
        producer.produce("table", b"v", b"fresh")
        producer.produce("table", None, b"fresh")  # kept: within delete retention
        producer.produce("table", b"v", b"alive")
        producer.flush()
    assert log.compact("table") == 3
    assert [(r.key, r.value) for r in read_all(log, "table")] == [
        (b"fresh", None), (b"alive", b"v")]


def test_end_offset_survives_restart_when_the_newest_record_was_removed(
        open_embedded: Callable[..., EmbeddedLog]) -> None:
    log = open_embedded(auto_compaction=False)
    log.create_topics([TopicSpec("table", 1, compacted=True,
                                 config={"delete.retention.ms": "0"})])
    with log.producer() as producer:
        producer.produce("table", b"v", b"k")
        producer.produce("table", None, b"k")
        producer.flush()
    assert log.compact("table") == 2
    assert read_all(log, "table") == []
    assert log.beginning_offsets([TP]) == log.end_offsets([TP]) == {TP: 2}
    log.close()

    again = open_embedded(auto_compaction=False)
    assert again.end_offsets([TP]) == {TP: 2}
    assert again.beginning_offsets([TP]) == {TP: 2}
    assert again.producer().send("table", b"new", b"k").offset == 2


def test_background_cleaner_compacts_dirty_partitions(elog: EmbeddedLog) -> None:
    elog.create_topics([TopicSpec("table", 2, compacted=True,
                                  config={"min.cleanable.dirty.ratio": "0.5"})])
    _fill(elog, rounds=50, keys=6)
    eventually(lambda: len(read_all(elog, "table")) == 6, timeout=30,
               what="background compaction")
    values = sorted(r.value or b"" for r in read_all(elog, "table"))
    assert values == [f"{key}@49".encode() for key in range(6)]


def test_consumer_behind_compaction_reads_survivors(
        open_embedded: Callable[..., EmbeddedLog]) -> None:
    log = open_embedded(auto_compaction=False)
    log.create_topic("table", 1, compacted=True)
    _fill(log, rounds=3, keys=2)  # offsets 0..5
    with log.consumer("restore") as consumer:
        consumer.assign([(TP, 0)])
        log.compact("table")
        got = consumer.poll_batch(100, timeout=1)
        assert [(r.offset, r.value) for r in got] == [(4, b"0@2"), (5, b"1@2")]
        assert consumer.position([TP]) == {TP: 6}


def test_compact_rejects_plain_topic(elog: EmbeddedLog) -> None:
    elog.create_topic("plain", 1)
    with pytest.raises(ConfigError, match="not compacted"):
        elog.compact("plain")


def test_compacted_topic_needs_keys(elog: EmbeddedLog) -> None:
    elog.create_topic("table", 1, compacted=True)
    with elog.producer() as producer, pytest.raises(ConfigError, match="needs a key"):
        producer.produce("table", b"v")


def test_retention_removes_old_prefix(open_embedded: Callable[..., EmbeddedLog]) -> None:
    log = open_embedded(auto_compaction=False)
    log.create_topic("events", 1, retention_ms=60_000)
    tp = TopicPartition("events", 0)
    now = time.time_ns() // 1_000_000
    with log.producer() as producer:
        for i in range(5):
            producer.produce("events", f"old-{i}".encode(), timestamp_ms=now - 120_000)
        for i in range(3):
            producer.produce("events", f"new-{i}".encode())
        producer.flush()
    assert log.enforce_retention("events") == 5
    assert [r.value for r in read_all(log, "events")] == [b"new-0", b"new-1", b"new-2"]
    assert log.beginning_offsets([tp]) == {tp: 5}
    assert log.end_offsets([tp]) == {tp: 8}


def test_retention_can_empty_a_partition_and_keep_its_end(
        open_embedded: Callable[..., EmbeddedLog]) -> None:
    log = open_embedded(auto_compaction=False)
    log.create_topic("events", 1, retention_ms=1_000)
    tp = TopicPartition("events", 0)
    with log.producer() as producer:
        for i in range(4):
            producer.produce("events", b"x", timestamp_ms=1_000 + i)
        producer.flush()
    assert log.enforce_retention("events") == 4
    log.close()
    again = open_embedded(auto_compaction=False)
    assert again.beginning_offsets([tp]) == again.end_offsets([tp]) == {tp: 4}


def test_background_retention(open_embedded: Callable[..., EmbeddedLog]) -> None:
    log = open_embedded(retention_check_interval_ms=50)
    log.create_topic("events", 1, retention_ms=1_000)
    with log.producer() as producer:
        producer.produce("events", b"stale", timestamp_ms=5)
        producer.flush()
    eventually(lambda: read_all(log, "events") == [], timeout=20, what="background retention")


def test_dirty_records_left_before_a_restart_are_cleaned(
        open_embedded: Callable[..., EmbeddedLog]) -> None:
    log = open_embedded(auto_compaction=False)
    log.create_topic("table", 1, compacted=True)
    _fill(log, rounds=50, keys=4)
    log.close()

    again = open_embedded()  # the cleaner's first pass finds the partition dirty
    eventually(lambda: len(read_all(again, "table")) == 4, timeout=30,
               what="compaction after restart")
    state = again.engine.topic("table")
    assert (state.dirty[0], state.stored[0]) == (0, 4)
    again.close()

    third = open_embedded(auto_compaction=False)  # counts come back from the marker
    _fill(third, rounds=1, keys=2)
    state = third.engine.topic("table")
    assert (state.dirty[0], state.stored[0]) == (2, 6)
    assert third.end_offsets([TP]) == {TP: 202}
