"""One OpenTelemetry span per dispatch batch, checked with the SDK's in-memory exporter."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest

from slither_stream import telemetry

pytest.importorskip("opentelemetry.sdk")

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from slither_stream.observability import BatchTracing

BATCH = ("slither", "dispatch", "batch")


@pytest.fixture
def traced() -> Iterator[tuple[BatchTracing, InMemorySpanExporter]]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing = BatchTracing(tracer_provider=provider).install()
    yield tracing, exporter
    tracing.uninstall()


def test_each_batch_becomes_one_span_with_its_metadata(
    traced: tuple[BatchTracing, InMemorySpanExporter],
) -> None:
    tracing, exporter = traced
    assert tracing.enabled
    meta: dict[str, Any] = {"pipe": "fraud", "stage": "score", "executor": "threads",
                            "batch_size": 16}
    with telemetry.span(BATCH, dict(meta, batch_ref="b1")):
        pass
    with pytest.raises(RuntimeError), telemetry.span(BATCH, dict(meta, batch_ref="b2")):
        raise RuntimeError("model crashed")
    spans = {(span.attributes or {})["slither.batch_ref"]: span
             for span in exporter.get_finished_spans()}
    assert set(spans) == {"b1", "b2"}
    ok, failed = spans["b1"], spans["b2"]
    assert ok.name == "slither.dispatch.batch"
    assert dict(ok.attributes or {}) == {"slither.pipe": "fraud", "slither.stage": "score",
                                   "slither.executor": "threads", "slither.batch_size": 16,
                                   "slither.batch_ref": "b1"}
    assert ok.status.status_code is StatusCode.OK
    assert ok.start_time is not None and ok.end_time is not None
    assert ok.end_time >= ok.start_time
    assert failed.status.status_code is StatusCode.ERROR
    assert "RuntimeError: model crashed" in (failed.status.description or "")
    assert [event.name for event in failed.events] == ["exception"]
    assert tracing.open_spans() == 0


def test_batches_finished_in_another_thread_and_out_of_order(
    traced: tuple[BatchTracing, InMemorySpanExporter],
) -> None:
    tracing, exporter = traced
    for ref in (1, 2):
        telemetry.execute((*BATCH, "start"), {"system_time": 1.0},
                          {"stage": "s", "batch_ref": ref})
    assert tracing.open_spans() == 2

    def finish() -> None:
        telemetry.execute((*BATCH, "stop"), {"duration": 0.1}, {"stage": "s", "batch_ref": 2})
        telemetry.execute((*BATCH, "stop"), {"duration": 0.1}, {"stage": "s", "batch_ref": 1})

    finisher = threading.Thread(target=finish, name="test-batch-finisher")
    finisher.start()
    finisher.join()
    finished = exporter.get_finished_spans()
    assert [(span.attributes or {})["slither.batch_ref"] for span in finished] == [2, 1]
    assert all(span.start_time == 1_000_000_000 for span in finished)
    assert tracing.open_spans() == 0


def test_uninstall_stops_tracing_and_ends_open_spans(
    traced: tuple[BatchTracing, InMemorySpanExporter],
) -> None:
    tracing, exporter = traced
    telemetry.execute((*BATCH, "start"), {"system_time": 1.0}, {"stage": "s", "batch_ref": 9})
    tracing.uninstall()
    assert len(exporter.get_finished_spans()) == 1
    with telemetry.span(BATCH, {"stage": "s", "batch_ref": 10}):
        pass
    assert len(exporter.get_finished_spans()) == 1


def test_without_opentelemetry_tracing_is_a_no_op(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util
    import sys

    from slither_stream.observability import tracing as real_module

    monkeypatch.setitem(sys.modules, "opentelemetry", None)  # makes the import fail
    spec = importlib.util.spec_from_file_location("tracing_without_otel",
                                                  real_module.__file__)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.OTEL_AVAILABLE is False
    tracing = module.BatchTracing().install()
    assert not tracing.enabled
    assert not telemetry.has_handlers((*BATCH, "start"))
    with telemetry.span(BATCH, {"stage": "s", "batch_ref": 1}):
        pass
    assert tracing.open_spans() == 0
    tracing.uninstall()
