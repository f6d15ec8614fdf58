"""Keyed state restore metrics follow ``slither.state.restore.progress``, and the
HTTP server serves routes added to it."""

from __future__ import annotations

import pytest

from slither_stream import telemetry
from slither_stream.errors import ConfigError
from slither_stream.observability import MetricsRegistry, MetricsServer, events
from slither_stream.observability.server import HttpReply
from slither_stream.store.partitioned import recovery
from tests.observability.conftest import http_get, key, samples


def progress(stage: str, partition: int, records: int, total: int, *, done: bool) -> None:
    telemetry.execute(events.STATE_RESTORE_PROGRESS,
                      {"records": records, "total": total, "rate": 0.0, "elapsed": 0.1},
                      {"stage": stage, "partition": partition, "done": done})


def test_the_event_is_the_one_the_restore_emits() -> None:
    assert events.STATE_RESTORE_PROGRESS == recovery.STATE_RESTORE_PROGRESS


def test_state_restore_gauges_per_stage_and_partition(metrics: MetricsRegistry) -> None:
    progress("count", 2, 0, 400, done=False)
    got = samples(metrics.exposition().decode())
    labels = {"stage": "count", "partition": "2"}
    assert got[key("slither_state_restore_records", **labels)] == 0
    assert got[key("slither_state_restore_total_records", **labels)] == 400
    assert got[key("slither_state_restore_ratio", **labels)] == 0
    progress("count", 2, 100, 400, done=False)
    progress("count", 3, 0, 0, done=True)  # nothing to restore
    got = samples(metrics.exposition().decode())
    assert got[key("slither_state_restore_ratio", **labels)] == 0.25
    assert got[key("slither_state_restore_ratio", stage="count", partition="3")] == 1.0
    progress("count", 2, 380, 400, done=True)  # compaction gaps: total is an upper bound
    got = samples(metrics.exposition().decode())
    assert got[key("slither_state_restore_ratio", **labels)] == 1.0
    assert got[key("slither_state_restore_records", **labels)] == 380


def test_a_malformed_state_restore_event_is_counted_not_raised(
        metrics: MetricsRegistry) -> None:
    telemetry.execute(events.STATE_RESTORE_PROGRESS, {"records": 1},
                      {"stage": "s", "partition": 0, "done": False})
    got = samples(metrics.exposition().decode())
    assert got[key("slither_telemetry_errors_total",
                   event="slither.state.restore.progress")] == 1


def test_added_routes_are_served_and_a_failing_one_answers_500(
        metrics: MetricsRegistry) -> None:
    seen: list[tuple[str, str]] = []

    def echo(path: str, query: str) -> HttpReply:
        seen.append((path, query))
        if path.endswith("/boom"):
            raise RuntimeError("boom")
        return HttpReply.json(201, {"path": path}, (("Retry-After", "2"),))

    server = MetricsServer(metrics, port=0)
    server.add_route("/state", echo)
    with server:
        status, content_type, body = http_get(f"{server.url}/state/a/b/c%2Fd?format=raw")
        assert (status, content_type) == (201, "application/json")
        assert seen == [("/state/a/b/c%2Fd", "format=raw")]
        assert http_get(f"{server.url}/state/boom")[0] == 500
        status, _type, body = http_get(f"{server.url}/stateful")
        assert status == 404 and "/state" in body
        server.add_route("/later", echo)  # while serving
        assert http_get(f"{server.url}/later")[0] == 201
    with pytest.raises(ConfigError):
        server.add_route("/metrics", echo)
    with pytest.raises(ConfigError):
        server.add_route("state/", echo)
