"""After a real pipe run, /metrics serves the run's counters (on both log backends)."""

from __future__ import annotations

from typing import Any

from slither_stream.observability import MetricsRegistry, MetricsServer
from slither_stream.pipe.declaration import Pipe
from slither_stream.pipe.deploy.runner import Runner
from tests.observability.conftest import http_get, key, samples


def big(item: Any) -> bool:
    return bool(item.payload["x"] >= 10)


def test_metrics_after_a_pipe_run(metrics: MetricsRegistry, log_url: str,
                                  unique_name: Any) -> None:
    name = unique_name("obs").replace("-", "_")
    pipe = Pipe(name, partitions=2)
    pipe.compute("score", "tests.pipe.helpers:double_batch", batch_size=4, max_in_flight=2)
    pipe.router("route", [(big, "big")])
    pipe.output("big")
    outputs = Runner.run(pipe, [{"x": x} for x in range(10)], log=log_url, timeout=120)
    assert sorted(item.payload["x"] for item in outputs["big"]) == [10, 12, 14, 16, 18]

    with MetricsServer(metrics, port=0) as server:
        status, _, body = http_get(f"{server.url}/metrics")
    assert status == 200
    got = samples(body)
    assert got[key("slither_pipe_runs_total", pipe=name, outcome="ok")] == 1
    assert got[key("slither_records_total", stage="score", direction="in")] == 10
    assert got[key("slither_records_total", stage="route", direction="in")] == 10
    dispatched = sum(value for (sample, labels), value in got.items()
                     if sample == "slither_dispatch_items_total"
                     and ("stage", "score") in labels)
    assert dispatched == 10
    in_flight = [value for (sample, _), value in got.items()
                 if sample == "slither_dispatch_batches_in_flight"]
    assert in_flight and all(value == 0 for value in in_flight)
    stage_spans = {dict(labels)["stage"] for (sample, labels), value in got.items()
                   if sample == "slither_stage_duration_seconds_count" and value > 0}
    assert {"score", "route"} <= stage_spans
