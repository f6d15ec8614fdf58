"""``slither lag`` on both backends: its figures are the log's own offsets."""

from __future__ import annotations

from collections.abc import Callable

import orjson

from slither_stream.log import open_log
from slither_stream.log.types import TopicPartition
from slither_stream.pipe.deploy.runner import ensure_topics
from slither_stream.pipe.loading import load_topology
from tests.cli.helpers import assert_one_line_error, slither

TOPOLOGY = "topologies/scoring.py"


def test_lag_matches_the_log(log_url: str, unique_name: Callable[[str], str]) -> None:
    namespace = unique_name("lag")
    definition = load_topology(TOPOLOGY).compile().with_namespace(namespace)
    enrich, score = definition.stage("enrich"), definition.stage("score")
    with open_log(log_url) as log:
        ensure_topics(log, definition)
        with log.producer() as producer:
            for i in range(6):
                producer.produce(enrich.input_topic, b'{"n": %d}' % i, partition=0)
            for i in range(4):
                producer.produce(enrich.input_topic, b'{"n": %d}' % i, partition=1)
            producer.produce(score.input_topic, b"{}", partition=3)
            producer.flush(30)
        p0 = TopicPartition(enrich.input_topic, 0)
        with log.consumer(enrich.group) as consumer:
            consumer.assign([(p0, 0)])
            consumer.commit({p0: 4})
        expected = {plan.name: [(e.partition, e.end_offset, e.committed, e.lag)
                                for e in log.lag(plan.group, plan.input_topic)]
                    for plan in definition.stages}
    assert expected["enrich"] == [(0, 6, 4, 2), (1, 4, None, 4), (2, 0, None, 0),
                                  (3, 0, None, 0)]
    assert expected["score"][3] == (3, 1, None, 1)

    result = slither("lag", TOPOLOGY, "--namespace", namespace, "--format", "json",
                     "--log", log_url)
    assert result.returncode == 0, result.stderr
    report = orjson.loads(result.stdout)
    assert report["namespace"] == namespace and report["lag"] == 7
    printed = {stage["stage"]: [(p["partition"], p["end_offset"], p["committed"], p["lag"])
                                for p in stage["partitions"]]
               for stage in report["stages"]}
    assert printed == expected
    assert [(s["stage"], s["group"], s["topic"]) for s in report["stages"]] == [
        (plan.name, plan.group, plan.input_topic) for plan in definition.stages]

    table = slither("lag", TOPOLOGY, "--namespace", namespace, "--stage", "enrich",
                    "--log", log_url)
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert lines[0].split() == ["STAGE", "GROUP", "TOPIC", "PARTITION", "END", "COMMITTED",
                                "LAG"]
    rows = [line.split() for line in lines[1:-1]]
    assert rows == [["enrich", enrich.group, enrich.input_topic, "0", "6", "4", "2"],
                    ["enrich", enrich.group, enrich.input_topic, "1", "4", "-", "4"],
                    ["enrich", enrich.group, enrich.input_topic, "2", "0", "-", "0"],
                    ["enrich", enrich.group, enrich.input_topic, "3", "0", "-", "0"]]
    assert lines[-1].startswith("total lag 6 ")


def test_lag_of_a_pipe_never_started_is_one_line(log_url: str,
                                                 unique_name: Callable[[str], str]) -> None:
    namespace = unique_name("lag-missing")
    result = slither("lag", TOPOLOGY, "--namespace", namespace, "--log", log_url)
    assert_one_line_error(result, 2, f"{namespace}.enrich.in", "does not exist")


def test_lag_bad_arguments_are_one_line() -> None:
    assert_one_line_error(slither("lag", TOPOLOGY, "--format", "xml"), 2, "--format")
    assert_one_line_error(slither("lag", TOPOLOGY, "--stage", "nope"), 2, "nope", "enrich")
    assert_one_line_error(slither("lag", "missing/topology.py"), 2, "missing/topology.py")


def test_drained_exactly_once_pipe_has_no_lag(log_url: str,
                                              unique_name: Callable[[str], str]) -> None:
    """A drained exactly-once pipe shows lag 0 in ``slither lag`` and in the
    ``slither_consumer_lag`` metric, though on Kafka each partition's committed offset
    stays one commit marker short of its end."""
    from prometheus_client import CollectorRegistry, generate_latest

    from slither_stream.observability.lag import LagCollector
    from slither_stream.pipe.deploy.runner import Runner
    from tests.reliability.topology import exactly_once

    namespace = unique_name("lag-eos")
    definition = exactly_once.compile().with_namespace(namespace)
    inputs = [{"n": n, "key": f"k{n % 7}", "seq": n} for n in range(120)]
    with open_log(log_url) as log:
        outputs = Runner.run(definition, inputs, log=log, namespace=namespace,
                             keys=lambda payload: payload["key"], timeout=120)
        assert len(outputs["default"]) == 120
        # inputs of the 2nd and 3rd stages are written in transactions
        offsets = [(e.end_offset, e.committed) for plan in definition.stages[1:]
                   for e in log.lag(plan.group, plan.input_topic) if e.end_offset]
        assert offsets
        if log_url.startswith("kafka://"):
            assert all(committed is not None and end - committed == 1
                       for end, committed in offsets), offsets
        collector = LagCollector("slither")
        collector.watch_pipe(log, definition)
        registry = CollectorRegistry()
        registry.register(collector)
        scraped = [line for line in generate_latest(registry).decode().splitlines()
                   if line.startswith("slither_consumer_lag{")]
        assert len(scraped) == 3 * definition.partitions
        assert all(line.endswith(" 0.0") for line in scraped), scraped
        collector.unwatch_all()

    result = slither("lag", "tests/reliability/topology.py:exactly_once", "--namespace",
                     namespace, "--format", "json", "--log", log_url)
    assert result.returncode == 0, result.stderr
    report = orjson.loads(result.stdout)
    assert report["lag"] == 0, report
    assert [p["lag"] for stage in report["stages"] for p in stage["partitions"]] == \
        [0] * (3 * definition.partitions)
