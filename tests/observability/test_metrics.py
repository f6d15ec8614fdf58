"""Telemetry events -> Prometheus samples, read back through the text format."""

from __future__ import annotations

import pytest

from slither_stream import telemetry
from slither_stream.errors import ConfigError
from slither_stream.observability import (
    MetricsRegistry,
    emit_dlq,
    emit_lag,
    emit_lag_clear,
    emit_records,
    emit_restore_progress,
    emit_store_size,
)
from tests.observability.conftest import key, samples

BATCH = ("slither", "dispatch", "batch")


def scrape(metrics: MetricsRegistry) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return samples(metrics.exposition().decode())


def test_records_dlq_lag_and_store_events_set_the_right_series(
    metrics: MetricsRegistry,
) -> None:
    emit_records("score", "in", 10)
    emit_records("score", "in", 5)
    emit_records("score", "out", 12)
    emit_records("route", "in", 12)
    emit_dlq("score", 3)
    emit_lag("score", "txns", 0, 40)
    emit_lag("score", "txns", 1, 7)
    emit_lag("score", "txns", 0, 25)
    emit_store_size("features", "users", 123, 4096)
    emit_store_size("features", "orders", 7)  # keys only: no bytes series
    telemetry.execute(("slither", "store", "write"), {"count": 4},
                      {"store": "features", "table": "users"})
    emit_restore_progress("features", "users", 50, 200)

    got = scrape(metrics)
    assert got[key("slither_records_total", stage="score", direction="in")] == 15
    assert got[key("slither_records_total", stage="score", direction="out")] == 12
    assert got[key("slither_records_total", stage="route", direction="in")] == 12
    assert got[key("slither_dlq_records_total", stage="score")] == 3
    assert got[key("slither_consumer_lag", stage="score", topic="txns", partition="0")] == 25
    assert got[key("slither_consumer_lag", stage="score", topic="txns", partition="1")] == 7
    assert got[key("slither_store_size", store="features", table="users")] == 123
    assert got[key("slither_store_size_bytes", store="features", table="users")] == 4096
    assert got[key("slither_store_size", store="features", table="orders")] == 7
    assert key("slither_store_size_bytes", store="features", table="orders") not in got
    assert got[key("slither_store_writes_total", store="features", table="users")] == 4
    assert got[key("slither_store_restore_records", store="features", table="users")] == 50
    assert got[key("slither_store_restore_total_records", store="features", table="users")] == 200
    assert got[key("slither_store_restore_ratio", store="features", table="users")] == 0.25


def test_restore_of_an_empty_changelog_counts_as_complete(metrics: MetricsRegistry) -> None:
    emit_restore_progress("s", "t", 0, 0)
    assert scrape(metrics)[key("slither_store_restore_ratio", store="s", table="t")] == 1.0


def test_lag_clear_forgets_a_revoked_partition(metrics: MetricsRegistry) -> None:
    emit_lag("score", "txns", 0, 40)
    emit_lag("score", "txns", 1, 7)
    emit_lag_clear("score", "txns", 0)
    emit_lag_clear("score", "txns", 9)  # never reported: harmless
    got = scrape(metrics)
    assert key("slither_consumer_lag", stage="score", topic="txns", partition="0") not in got
    assert got[key("slither_consumer_lag", stage="score", topic="txns", partition="1")] == 7


def test_dispatch_batches_feed_histogram_items_in_flight_and_failures(
    metrics: MetricsRegistry,
) -> None:
    meta = {"stage": "score", "executor": "threads", "pipe": "p", "batch_size": 8}
    telemetry.execute((*BATCH, "start"), {"system_time": 0.0}, dict(meta, batch_ref=1))
    telemetry.execute((*BATCH, "start"), {"system_time": 0.0}, dict(meta, batch_ref=2))
    telemetry.execute((*BATCH, "start"), {"system_time": 0.0}, dict(meta, batch_ref=3))
    in_flight = key("slither_dispatch_batches_in_flight", stage="score", executor="threads")
    assert scrape(metrics)[in_flight] == 3

    telemetry.execute((*BATCH, "stop"), {"duration": 0.003}, dict(meta, batch_ref=1))
    telemetry.execute((*BATCH, "stop"), {"duration": 0.2}, dict(meta, batch_ref=2))
    telemetry.execute((*BATCH, "exception"), {"duration": 0.1},
                      dict(meta, batch_ref=3, kind="ValueError", reason="bad"))
    got = scrape(metrics)
    labels = {"stage": "score", "executor": "threads"}
    assert got[in_flight] == 0
    assert got[key("slither_dispatch_batch_duration_seconds_count", **labels)] == 2
    assert got[key("slither_dispatch_batch_duration_seconds_sum", **labels)] == pytest.approx(0.203)
    assert got[key("slither_dispatch_batch_duration_seconds_bucket", **labels, le="0.005")] == 1
    assert got[key("slither_dispatch_batch_duration_seconds_bucket", **labels, le="0.25")] == 2
    assert got[key("slither_dispatch_items_total", **labels)] == 16
    assert got[key("slither_dispatch_batch_failures_total", **labels, kind="ValueError")] == 1


def test_telemetry_span_over_a_batch_is_counted(metrics: MetricsRegistry) -> None:
    meta = {"stage": "embed", "executor": "process", "batch_size": 4}
    with telemetry.span(BATCH, meta):
        in_flight = key("slither_dispatch_batches_in_flight", stage="embed", executor="process")
        assert scrape(metrics)[in_flight] == 1
    got = scrape(metrics)
    assert got[in_flight] == 0
    assert got[key("slither_dispatch_batch_duration_seconds_count",
                   stage="embed", executor="process")] == 1


def test_pipe_runs_and_stages(metrics: MetricsRegistry) -> None:
    with telemetry.span(("slither", "pipe", "run"), {"pipe": "fraud", "input_count": 3}):
        with telemetry.span(("slither", "pipe", "stage"),
                            {"pipe": "fraud", "stage": "score", "type": "compute"}):
            pass
        with pytest.raises(KeyError), telemetry.span(
            ("slither", "pipe", "stage"), {"pipe": "fraud", "stage": "route", "type": "router"}
        ):
            raise KeyError("x")
    with pytest.raises(RuntimeError), telemetry.span(("slither", "pipe", "run"),
                                                     {"pipe": "fraud"}):
        raise RuntimeError("halt")
    got = scrape(metrics)
    assert got[key("slither_pipe_runs_total", pipe="fraud", outcome="ok")] == 1
    assert got[key("slither_pipe_runs_total", pipe="fraud", outcome="error")] == 1
    assert got[key("slither_pipe_run_duration_seconds_count", pipe="fraud")] == 2
    assert got[key("slither_stage_duration_seconds_count", stage="score", type="compute")] == 1
    assert got[key("slither_stage_failures_total", stage="route", type="router",
                   kind="KeyError")] == 1


def test_store_reload_duration(metrics: MetricsRegistry) -> None:
    with telemetry.span(("slither", "store", "reload"), {"store": "features"}):
        pass
    assert scrape(metrics)[key("slither_store_reload_duration_seconds_count",
                               store="features")] == 1


def test_malformed_events_are_counted_and_do_not_detach_the_handler(
    metrics: MetricsRegistry,
) -> None:
    telemetry.execute(("slither", "pipe", "lag"), {}, {"stage": "s", "topic": "t",
                                                       "partition": 0})
    telemetry.execute(("slither", "pipe", "dlq"), {"count": -1}, {"stage": "s"})
    telemetry.execute(("slither", "pipe", "records"), {"count": 1},
                      {"stage": "s", "direction": "sideways"})
    emit_dlq("s", 2)  # still listening afterwards
    got = scrape(metrics)
    assert got[key("slither_telemetry_errors_total", event="slither.pipe.lag")] == 1
    assert got[key("slither_telemetry_errors_total", event="slither.pipe.dlq")] == 1
    assert got[key("slither_telemetry_errors_total", event="slither.pipe.records")] == 1
    assert got[key("slither_dlq_records_total", stage="s")] == 2
    assert key("slither_records_total", stage="s", direction="sideways") not in got


def test_registries_are_isolated_and_uninstall_stops_counting() -> None:
    first = MetricsRegistry().install()
    second = MetricsRegistry()
    try:
        emit_dlq("s", 1)
        second.install()
        emit_dlq("s", 1)
        first.uninstall()
        emit_dlq("s", 1)
        assert scrape(first)[key("slither_dlq_records_total", stage="s")] == 2
        assert scrape(second)[key("slither_dlq_records_total", stage="s")] == 2
        assert not first.installed and second.installed
    finally:
        first.uninstall()
        second.uninstall()
    assert not telemetry.has_handlers(("slither", "pipe", "dlq"))


def test_ready_gauge_follows_the_callback(metrics: MetricsRegistry) -> None:
    state = {"ready": False}
    metrics.track_readiness(lambda: state["ready"])
    assert scrape(metrics)[key("slither_ready")] == 0
    state["ready"] = True
    assert scrape(metrics)[key("slither_ready")] == 1


def test_metric_names_cover_unobserved_series(metrics: MetricsRegistry) -> None:
    names = metrics.metric_names()
    assert {"slither_records_total", "slither_consumer_lag",
            "slither_dispatch_batch_duration_seconds_bucket",
            "slither_store_restore_ratio", "slither_ready"} <= names
    assert "slither_records" not in names


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: emit_records("s", "both", 1), "direction"),
        (lambda: emit_records("s", "in", -1), "count"),
        (lambda: emit_lag("s", "t", 0, -5), "lag"),
        (lambda: emit_restore_progress("s", "t", 1, -1), "total"),
        (lambda: emit_store_size("s", "t", -1), "size"),
        (lambda: emit_store_size("s", "t", 1, -1), "size_bytes"),
    ],
)
def test_emit_helpers_reject_bad_arguments_by_name(call: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        call()  # type: ignore[operator]


def test_skipped_items_and_backpressure(metrics: MetricsRegistry) -> None:
    telemetry.execute((*BATCH, "skip"), {"count": 6.0},
                      {"stage": "score", "executor": "threads", "kind": "TimeoutError"})
    pause = ("slither", "pipe", "backpressure", "pause")
    resume = ("slither", "pipe", "backpressure", "resume")
    meta = {"pipe": "p", "stage": "parse", "downstream_group": "p.score"}
    telemetry.execute(pause, {"lag": 5000.0}, meta)
    got = scrape(metrics)
    assert got[key("slither_dispatch_skipped_items_total", stage="score", executor="threads",
                   kind="TimeoutError")] == 6
    assert got[key("slither_backpressure_paused", stage="parse")] == 1
    assert got[key("slither_downstream_lag", stage="parse", downstream_group="p.score")] == 5000
    telemetry.execute(resume, {"lag": 100.0}, meta)
    telemetry.execute(pause, {"lag": 4000.0}, meta)
    telemetry.execute(resume, {"lag": 50.0}, meta)
    got = scrape(metrics)
    assert got[key("slither_backpressure_paused", stage="parse")] == 0
    assert got[key("slither_backpressure_pauses_total", stage="parse")] == 2
    assert got[key("slither_downstream_lag", stage="parse", downstream_group="p.score")] == 50


def test_whole_store_restore_marked_done_reads_complete(metrics: MetricsRegistry) -> None:
    event = ("slither", "store", "restore", "progress")
    telemetry.execute(event, {"records": 90, "total": 120},
                      {"store": "features", "generation": 1, "done": False})
    ratio = key("slither_store_restore_ratio", store="features", table="")
    assert scrape(metrics)[ratio] == 0.75
    telemetry.execute(event, {"records": 95, "total": 120},
                      {"store": "features", "generation": 1, "done": True})
    assert scrape(metrics)[ratio] == 1.0


def test_stage_span_metadata_counts_records_in_out_and_dead_letters(
    metrics: MetricsRegistry,
) -> None:
    stage_meta = {"pipe": "p", "stage": "enrich", "type": "local", "batch_size": 20}
    with telemetry.span(("slither", "pipe", "stage"), stage_meta) as meta:
        meta["records_out"] = 17
        meta["dead_lettered"] = 2
    with telemetry.span(("slither", "pipe", "stage"), dict(stage_meta, batch_size=5)):
        pass
    got = scrape(metrics)
    assert got[key("slither_records_total", stage="enrich", direction="in")] == 25
    assert got[key("slither_records_total", stage="enrich", direction="out")] == 17
    assert got[key("slither_dlq_records_total", stage="enrich")] == 2
