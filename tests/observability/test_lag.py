"""Consumer lag read from the log at scrape time (both backends), and from events."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import pytest

from slither_stream.errors import ConfigError
from slither_stream.log import Log
from slither_stream.log.types import TopicPartition
from slither_stream.observability import MetricsRegistry, MetricsServer, emit_lag
from slither_stream.pipe.declaration import Pipe
from tests.observability.conftest import http_get, key, samples


def test_watched_stage_lag_matches_the_logs_offsets(
    metrics: MetricsRegistry, log: Log, unique_name: Callable[[str], str],
) -> None:
    topic, group = unique_name("obs-lag-in"), unique_name("obs-lag-group")
    log.create_topic(topic, partitions=2)
    producer = log.producer()
    for partition, count in ((0, 3), (1, 2)):
        for n in range(count):
            producer.produce(topic, f"v{n}".encode(), partition=partition)
    producer.flush(30)
    producer.close()
    consumer = log.consumer(group)
    try:
        consumer.assign([TopicPartition(topic, 0), TopicPartition(topic, 1)])
        consumer.commit({TopicPartition(topic, 0): 2})
    finally:
        consumer.close()

    metrics.watch_lag(log, stage="enrich", group=group, topic=topic)
    with MetricsServer(metrics, port=0) as server:
        got = samples(http_get(f"{server.url}/metrics")[2])
    expected = {entry.partition: entry.lag for entry in log.lag(group, topic)}
    assert expected == {0: 1, 1: 2}
    for partition, lag in expected.items():
        assert got[key("slither_consumer_lag", stage="enrich", topic=topic,
                       partition=str(partition))] == lag


@dataclass
class _Lag:
    topic: str
    partition: int
    lag: int


class _BrokenLog:
    def lag(self, group: str, topic: str) -> Sequence[_Lag]:
        raise ConnectionError(f"broker unreachable for {group}")


class _FixedLog:
    def lag(self, group: str, topic: str) -> Sequence[_Lag]:
        return [_Lag(topic, 0, 4)]


def test_a_failing_watch_is_counted_and_the_rest_is_still_served(
    metrics: MetricsRegistry,
) -> None:
    metrics.watch_lag(_BrokenLog(), stage="score", group="g", topic="t")
    metrics.watch_lag(_FixedLog(), stage="route", group="g2", topic="t2")
    emit_lag("enrich", "in", 3, 11)
    got = samples(metrics.exposition().decode())
    assert got[key("slither_lag_errors_total", stage="score")] == 1
    assert got[key("slither_consumer_lag", stage="route", topic="t2", partition="0")] == 4
    assert got[key("slither_consumer_lag", stage="enrich", topic="in", partition="3")] == 11
    assert not any(name == "slither_consumer_lag" and ("stage", "score") in labels
                   for name, labels in got)
    metrics.lag.unwatch_all()
    assert key("slither_consumer_lag", stage="route", topic="t2", partition="0") \
        not in samples(metrics.exposition().decode())


def test_watch_pipe_lag_uses_each_stage_group_and_input_topic(
    metrics: MetricsRegistry,
) -> None:
    pipe = Pipe("lagpipe", partitions=2)
    pipe.compute("a", "tests.pipe.helpers:double_batch")
    pipe.compute("b", "tests.pipe.helpers:double_batch")
    definition = pipe.compile()
    added = metrics.watch_pipe_lag(_FixedLog(), definition, stages=["b"])
    plan = definition.stage("b")
    assert [(w.stage, w.group, w.topic) for w in added] == [
        ("b", plan.group, plan.input_topic)]
    got = samples(metrics.exposition().decode())
    assert got[key("slither_consumer_lag", stage="b", topic=plan.input_topic,
                   partition="0")] == 4
    with pytest.raises(ConfigError, match=r"unknown stage\(s\) \['zzz'\]"):
        metrics.watch_pipe_lag(_FixedLog(), definition, stages=["zzz"])
    with pytest.raises(ConfigError, match="non-empty group"):
        metrics.watch_lag(_FixedLog(), stage="s", group="", topic="t")
