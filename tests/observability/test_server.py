"""The HTTP endpoint, scraped over real sockets."""

from __future__ import annotations

import json
import socket
import threading

import pytest

from slither_stream.errors import ConfigError
from slither_stream.observability import (
    MetricsRegistry,
    MetricsServer,
    Readiness,
    emit_lag,
    emit_records,
    start_observability,
)
from tests.observability.conftest import http_get, key, samples


def test_metrics_endpoint_serves_counters_with_the_right_values(
    metrics: MetricsRegistry,
) -> None:
    with MetricsServer(metrics, port=0) as server:
        emit_records("score", "in", 41)
        emit_records("score", "in", 1)
        emit_lag("score", "txns", 2, 9)
        status, content_type, body = http_get(f"{server.url}/metrics")
    assert status == 200
    assert content_type.startswith("text/plain")
    got = samples(body)
    assert got[key("slither_records_total", stage="score", direction="in")] == 42
    assert got[key("slither_consumer_lag", stage="score", topic="txns", partition="2")] == 9
    assert got[key("slither_ready")] == 0


def test_healthz_is_503_until_ready_then_200_and_livez_is_always_200(
    metrics: MetricsRegistry,
) -> None:
    readiness = Readiness()
    readiness.wait_for("store:features")
    with MetricsServer(metrics, readiness, port=0) as server:
        assert http_get(f"{server.url}/livez")[0] == 200
        status, _, body = http_get(f"{server.url}/healthz")
        assert status == 503
        assert json.loads(body) == {"ready": False, "pending": ["startup", "store:features"]}

        readiness.set_started()
        status, _, body = http_get(f"{server.url}/healthz")
        assert status == 503
        assert json.loads(body)["pending"] == ["store:features"]

        readiness.done("store:features")
        status, _, body = http_get(f"{server.url}/healthz")
        assert status == 200
        assert json.loads(body) == {"ready": True, "pending": []}
        assert http_get(f"{server.url}/livez")[0] == 200
        assert samples(http_get(f"{server.url}/metrics")[2])[key("slither_ready")] == 1


def test_unknown_path_is_404_naming_the_valid_ones(metrics: MetricsRegistry) -> None:
    with MetricsServer(metrics, port=0) as server:
        status, _, body = http_get(f"{server.url}/nope")
    assert status == 404
    assert "/metrics" in body and "'/nope'" in body


def test_stop_closes_the_port_and_joins_the_named_thread(metrics: MetricsRegistry) -> None:
    server = MetricsServer(metrics, port=0).start()
    port = server.port
    assert server.host == "127.0.0.1"
    names = [thread.name for thread in threading.enumerate()]
    assert f"slither-metrics-http-{port}" in names
    server.stop()
    server.stop()  # idempotent
    assert f"slither-metrics-http-{port}" not in [t.name for t in threading.enumerate()]
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
        pass


def test_port_in_use_and_bad_port_are_config_errors(metrics: MetricsRegistry) -> None:
    with MetricsServer(metrics, port=0) as first, pytest.raises(
        ConfigError, match=f"127.0.0.1:{first.port}"
    ):
        MetricsServer(metrics, port=first.port).start()
    with pytest.raises(ConfigError, match="65535"):
        MetricsServer(metrics, port=70000)


def test_start_observability_wires_metrics_readiness_and_server() -> None:
    obs = start_observability(metrics_port=0)
    try:
        assert obs.server is not None
        emit_records("s", "out", 3)
        assert http_get(f"{obs.server.url}/healthz")[0] == 503
        obs.readiness.set_started()
        assert http_get(f"{obs.server.url}/healthz")[0] == 200
        got = samples(http_get(f"{obs.server.url}/metrics")[2])
        assert got[key("slither_records_total", stage="s", direction="out")] == 3
        assert got[key("slither_ready")] == 1
    finally:
        obs.stop()
    assert not obs.metrics.installed


def test_readiness_wait_wakes_on_done_and_rejects_unknown_conditions() -> None:
    readiness = Readiness()
    readiness.wait_for("store:a")
    readiness.set_started()
    assert readiness.wait(timeout=0.01) is False
    waiter_result: list[bool] = []
    waiter = threading.Thread(target=lambda: waiter_result.append(readiness.wait(timeout=10)),
                              name="test-readiness-waiter")
    waiter.start()
    readiness.done("store:a")
    waiter.join()
    assert waiter_result == [True]
    with pytest.raises(ConfigError, match="'store:b' is not pending"):
        readiness.done("store:b")
    with pytest.raises(ConfigError, match="non-empty"):
        readiness.wait_for("")
