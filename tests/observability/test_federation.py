"""A supervisor's endpoint speaks for its worker processes (real HTTP servers)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import ExitStack

import pytest

from slither_stream.errors import ConfigError
from slither_stream.observability import Members, MetricsRegistry, MetricsServer, Readiness
from tests.observability.conftest import http_get, key, samples

RECORDS = ("slither", "pipe", "records")


@pytest.fixture
def group() -> Iterator[tuple[MetricsServer, list[MetricsServer], Members]]:
    with ExitStack() as stack:
        children = []
        members = Members()
        for member in ("0", "1"):
            metrics = MetricsRegistry()
            metrics.handle(RECORDS, {"count": 10 + int(member)},
                           {"stage": "score", "direction": "in"})
            child = stack.enter_context(MetricsServer(metrics, Readiness(), port=0))
            children.append(child)
            members.set(member, child.url)
        own = MetricsRegistry()
        own.handle(("slither", "store", "write"), {"count": 7}, {"store": "f", "table": "t"})
        supervisor = stack.enter_context(
            MetricsServer(own, Readiness(), port=0, members=members))
        yield supervisor, children, members


def test_metrics_of_every_process_labeled_by_member(
    group: tuple[MetricsServer, list[MetricsServer], Members],
) -> None:
    supervisor, _, _ = group
    got = samples(http_get(f"{supervisor.url}/metrics")[2])
    assert got[key("slither_records_total", stage="score", direction="in", member="0")] == 10
    assert got[key("slither_records_total", stage="score", direction="in", member="1")] == 11
    assert got[key("slither_store_writes_total", store="f", table="t",
                   member="supervisor")] == 7
    assert got[key("slither_member_up", member="0")] == 1
    assert got[key("slither_member_up", member="1")] == 1
    ready = [labels for name, labels in got if name == "slither_ready"]
    assert ready == [frozenset()]  # one series for the whole group
    assert got[key("slither_ready")] == 0


def test_group_is_ready_only_when_supervisor_and_every_member_are(
    group: tuple[MetricsServer, list[MetricsServer], Members],
) -> None:
    supervisor, children, _ = group
    status, _, body = http_get(f"{supervisor.url}/healthz")
    assert status == 503
    assert json.loads(body)["pending"] == ["startup", "member 0", "member 1"]

    supervisor.readiness.set_started()
    children[0].readiness.set_started()
    status, _, body = http_get(f"{supervisor.url}/healthz")
    assert (status, json.loads(body)["pending"]) == (503, ["member 1"])
    assert samples(http_get(f"{supervisor.url}/metrics")[2])[key("slither_ready")] == 0

    children[1].readiness.set_started()
    assert http_get(f"{supervisor.url}/healthz")[0] == 200
    assert samples(http_get(f"{supervisor.url}/metrics")[2])[key("slither_ready")] == 1


def test_a_member_that_stopped_is_reported_down_and_the_rest_still_served(
    group: tuple[MetricsServer, list[MetricsServer], Members],
) -> None:
    supervisor, children, members = group
    for server in (supervisor, *children):
        server.readiness.set_started()
    children[1].stop()
    got = samples(http_get(f"{supervisor.url}/metrics")[2])
    assert got[key("slither_member_up", member="1")] == 0
    assert got[key("slither_records_total", stage="score", direction="in", member="0")] == 10
    assert got[key("slither_ready")] == 0
    status, _, body = http_get(f"{supervisor.url}/healthz")
    assert (status, json.loads(body)["pending"]) == (503, ["member 1"])

    members.remove("1")
    assert http_get(f"{supervisor.url}/healthz")[0] == 200


def test_members_table_rejects_bad_entries() -> None:
    members = Members()
    with pytest.raises(ConfigError, match="supervisor"):
        members.set("supervisor", "http://127.0.0.1:1")
    with pytest.raises(ConfigError, match="http://"):
        members.set("0", "127.0.0.1:9464")
    members.set("1", "http://127.0.0.1:9466/")
    members.set("0", "http://127.0.0.1:9465")
    assert members.snapshot() == {"0": "http://127.0.0.1:9465", "1": "http://127.0.0.1:9466"}
