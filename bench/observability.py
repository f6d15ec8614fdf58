"""Observability overhead: what metrics, logs and spans cost per event, side by side.

Run: ``.venv/bin/python bench/observability.py [--events N] [--repeat R]``

Prints, in one run, nanoseconds per operation (median of ``--repeat`` runs):

1. one dispatch batch's telemetry (``telemetry.span`` = start + stop events) with no
   handler attached, with :class:`MetricsRegistry` installed, and with metrics plus
   OpenTelemetry batch spans (in-memory SDK); next to the peer: instrumenting the
   same batch by hand with ``prometheus_client`` (gauge inc/dec + histogram observe +
   counter inc) and with a direct OTel ``start_as_current_span``;
2. one structured log line: :class:`JsonFormatter` against the stdlib
   ``logging.Formatter`` with a typical text format;
3. one ``/metrics`` scrape (exposition of every series) with many series, and the
   same for a plain ``prometheus_client`` registry holding the same number of
   series.

Figures are per-process wall-clock on this machine; compare rows within one run.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from prometheus_client import (  # noqa: E402
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from slither_stream import telemetry  # noqa: E402
from slither_stream.observability import BatchTracing, MetricsRegistry  # noqa: E402
from slither_stream.observability.logs import JsonFormatter  # noqa: E402
from slither_stream.observability.metrics import BATCH_BUCKETS  # noqa: E402

META = {"batch_ref": 1, "batch_size": 32, "executor": "threads", "pipe": "p", "stage": "score"}


def per_op(fn: Callable[[], None], count: int, repeat: int) -> float:
    """Median nanoseconds per call of ``fn`` over ``repeat`` runs of ``count`` calls."""
    runs = []
    for _ in range(repeat):
        started = time.perf_counter_ns()
        for _ in range(count):
            fn()
        runs.append((time.perf_counter_ns() - started) / count)
    return statistics.median(runs)


def batch_span() -> None:
    with telemetry.span(telemetry.DISPATCH_BATCH, META):
        pass


def interleaved(cases: list[tuple[str, Callable[[], None], Callable[[], None],
                                   Callable[[], None]]],
                count: int, repeat: int) -> list[tuple[str, float]]:
    """Time ``(name, setup, fn, teardown)`` cases round-robin, so that load from other
    processes during the run hits every case alike; median ns per call of ``fn``."""
    runs: dict[str, list[float]] = {name: [] for name, *_ in cases}
    for _ in range(repeat):
        for name, setup, fn, teardown in cases:
            setup()
            runs[name].append(per_op(fn, count, 1))
            teardown()
    return [(name, statistics.median(values)) for name, values in runs.items()]


def nothing() -> None:
    return None


def bench_batches(count: int, repeat: int) -> list[tuple[str, float]]:
    metrics = MetricsRegistry()
    cases = [("slither span, no handler", nothing, batch_span, nothing),
             ("slither span + MetricsRegistry", metrics.install, batch_span, metrics.uninstall)]
    tracing: BatchTracing | None = None
    try:
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
            InMemorySpanExporter,
        )
    except ImportError:
        provider = None
        print("(opentelemetry-sdk not installed: span rows skipped)")
    else:
        exporter = InMemorySpanExporter()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        tracing = BatchTracing(tracer_provider=provider)

        def with_tracing() -> None:
            metrics.install()
            assert tracing is not None
            tracing.install()

        def without_tracing() -> None:
            assert tracing is not None
            tracing.uninstall()
            metrics.uninstall()
            exporter.clear()

        cases.append(("slither span + metrics + OTel span", with_tracing, batch_span,
                      without_tracing))

    registry = CollectorRegistry()
    in_flight = Gauge("in_flight", "x", ["stage", "executor"], registry=registry)
    duration = Histogram("duration", "x", ["stage", "executor"], registry=registry,
                         buckets=BATCH_BUCKETS)
    items = Counter("items", "x", ["stage", "executor"], registry=registry)

    def by_hand() -> None:
        labels = {"stage": "score", "executor": "threads"}
        in_flight.labels(**labels).inc()
        started = time.perf_counter()
        in_flight.labels(**labels).dec()
        duration.labels(**labels).observe(time.perf_counter() - started)
        items.labels(**labels).inc(32)

    cases.append(("peer: prometheus_client by hand", nothing, by_hand, nothing))
    if provider is not None:
        tracer = provider.get_tracer("bench")

        def otel_direct() -> None:
            with tracer.start_as_current_span("batch", attributes={"stage": "score"}):
                by_hand()

        cases.append(("peer: prometheus by hand + OTel direct span", nothing, otel_direct,
                      exporter.clear))
    return interleaved(cases, count, repeat)


def bench_logs(count: int, repeat: int) -> list[tuple[str, float]]:
    record = logging.LogRecord("slither_stream.pipe.deploy.worker", logging.INFO, __file__, 1,
                               "committed %d records", (5,), None)
    for key, value in {"stage": "score", "topic": "txns", "partition": 3,
                       "offset": 1042}.items():
        setattr(record, key, value)
    json_formatter = JsonFormatter()
    text_formatter = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    return interleaved([
        ("JsonFormatter (ts, level, logger, msg + 4 fields)", nothing,
         lambda: json_formatter.format(record) and None, nothing),
        ("peer: stdlib logging.Formatter text line", nothing,
         lambda: text_formatter.format(record) and None, nothing),
    ], count, repeat)


def bench_scrape(stages: int, partitions: int, repeat: int) -> list[tuple[str, float]]:
    metrics = MetricsRegistry()
    for s in range(stages):
        stage = f"stage{s}"
        metrics.handle(("slither", "pipe", "records"), {"count": 10},
                       {"stage": stage, "direction": "in"})
        metrics.handle(("slither", "dispatch", "batch", "stop"), {"duration": 0.01},
                       {"stage": stage, "executor": "threads", "batch_size": 8})
        for p in range(partitions):
            metrics.handle(("slither", "pipe", "lag"), {"lag": p},
                           {"stage": stage, "topic": f"{stage}.in", "partition": p})
    registry = CollectorRegistry()
    records = Counter("records", "x", ["stage", "direction"], registry=registry)
    lag = Gauge("lag", "x", ["stage", "topic", "partition"], registry=registry)
    duration = Histogram("duration", "x", ["stage", "executor"], registry=registry,
                         buckets=BATCH_BUCKETS)
    for s in range(stages):
        records.labels(f"stage{s}", "in").inc(10)
        duration.labels(f"stage{s}", "threads").observe(0.01)
        for p in range(partitions):
            lag.labels(f"stage{s}", f"stage{s}.in", str(p)).set(p)
    return interleaved([
        (f"MetricsRegistry.exposition ({stages} stages x {partitions} partitions)", nothing,
         lambda: metrics.exposition() and None, nothing),
        ("peer: generate_latest, same series in plain prometheus_client", nothing,
         lambda: generate_latest(registry) and None, nothing),
    ], 50, repeat)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    sections = [
        ("per dispatch batch (start + stop)", bench_batches(args.events, args.repeat)),
        ("per log line", bench_logs(args.events, args.repeat)),
        ("per scrape", bench_scrape(20, 12, args.repeat)),
    ]
    for title, rows in sections:
        print(f"\n{title}")
        width = max(len(name) for name, _ in rows)
        for name, ns in rows:
            shown = f"{ns / 1000:10.1f} us" if ns >= 100_000 else f"{ns:10.0f} ns"
            print(f"  {name:<{width}}  {shown}")


if __name__ == "__main__":
    main()
