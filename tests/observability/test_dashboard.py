"""The Grafana dashboard loads and asks only for metrics the registry defines."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from slither_stream.observability import MetricsRegistry, federation

DASHBOARD = Path(__file__).resolve().parents[2] / "docker" / "grafana" / "slither-dashboard.json"
METRIC = re.compile(r"\bslither_[a-z0-9_]+\b")


@pytest.fixture(scope="module")
def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return loaded


def panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in dashboard["panels"]:
        yield panel
        yield from panel.get("panels", [])


def expressions(dashboard: dict[str, Any]) -> list[str]:
    exprs = [target["expr"] for panel in panels(dashboard) for target in panel.get("targets", [])]
    for variable in dashboard["templating"]["list"]:
        query = variable.get("query")
        if isinstance(query, dict):
            exprs.append(query["query"])
    return exprs


def test_dashboard_is_a_grafana_dashboard_with_unique_panel_ids(
    dashboard: dict[str, Any],
) -> None:
    assert dashboard["uid"] == "slither-stream"
    assert isinstance(dashboard["schemaVersion"], int)
    ids = [panel["id"] for panel in panels(dashboard)]
    assert len(ids) == len(set(ids))
    for panel in panels(dashboard):
        grid = panel["gridPos"]
        assert grid["x"] >= 0 and grid["x"] + grid["w"] <= 24, panel["title"]
        if panel["type"] != "row":
            assert panel["targets"], f"panel {panel['title']!r} has no query"
    cells: dict[tuple[int, int], str] = {}
    for panel in panels(dashboard):
        grid = panel["gridPos"]
        for x in range(grid["x"], grid["x"] + grid["w"]):
            for y in range(grid["y"], grid["y"] + grid["h"]):
                assert (x, y) not in cells, f"{panel['title']!r} overlaps {cells[(x, y)]!r}"
                cells[(x, y)] = panel["title"]


def test_dashboard_references_only_metrics_the_registry_defines(
    dashboard: dict[str, Any],
) -> None:
    defined = MetricsRegistry().metric_names() | federation.METRIC_NAMES
    used = {name for expr in expressions(dashboard) for name in METRIC.findall(expr)}
    assert used, "no slither_* metric found in the dashboard queries"
    assert used <= defined, f"undefined metrics: {sorted(used - defined)}"


def test_dashboard_shows_every_operator_metric(dashboard: dict[str, Any]) -> None:
    used = {name for expr in expressions(dashboard) for name in METRIC.findall(expr)}
    for required in ("slither_records_total", "slither_consumer_lag",
                     "slither_dispatch_batch_duration_seconds_bucket",
                     "slither_dispatch_batches_in_flight", "slither_dlq_records_total",
                     "slither_store_size", "slither_store_size_bytes",
                     "slither_store_restore_ratio", "slither_state_restore_ratio",
                     "slither_ready",
                     "slither_downstream_lag", "slither_dispatch_skipped_items_total"):
        assert required in used, required
