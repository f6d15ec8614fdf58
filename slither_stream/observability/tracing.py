"""OpenTelemetry spans per dispatch batch, when ``opentelemetry-api`` is installed.

:class:`BatchTracing` listens to ``slither.dispatch.batch.{start,stop,exception}``
and turns each batch into one span named ``slither.dispatch.batch`` with the batch's
metadata as attributes (``slither.pipe``, ``slither.stage``, ``slither.executor``,
``slither.batch_size``, ``slither.batch_ref``). A failed batch gets an ERROR status
and an ``exception`` event carrying ``kind`` and ``reason``.

Without the optional ``otel`` extra, ``install()`` does nothing and
:attr:`BatchTracing.enabled` is False: tracing is a no-op, never an import error.

The span is started at the batch's start event and ended at its stop event, which
may come from another thread (a dispatch runner can start a batch in its submitting
thread and finish it in a completion thread). For that reason the span is not made
the *current* span of any thread; spans are matched by ``batch_ref`` (falling back
to the emitting thread when an emitter sends none).
"""

from __future__ import annotations

import logging
import threading
import uuid
from typing import Any

from slither_stream import telemetry
from slither_stream.telemetry import Event, Measurements, Metadata

_log = logging.getLogger(__name__)

SPAN_NAME = "slither.dispatch.batch"
MAX_OPEN_SPANS = 10_000
"""Spans whose stop never arrives are dropped beyond this many, oldest first."""

_START = (*telemetry.DISPATCH_BATCH, "start")
_STOP = (*telemetry.DISPATCH_BATCH, "stop")
_EXCEPTION = (*telemetry.DISPATCH_BATCH, "exception")

OTEL_AVAILABLE: bool
"""True when ``opentelemetry-api`` is importable (the ``otel`` extra), so batches
become spans; False makes tracing a no-op."""

try:
    from opentelemetry import trace as _otel_trace
    from opentelemetry.trace import Status, StatusCode

    OTEL_AVAILABLE = True
except ImportError:  # the optional extra is not installed
    OTEL_AVAILABLE = False


def _attributes(metadata: Metadata) -> dict[str, str | int | float | bool]:
    attributes: dict[str, str | int | float | bool] = {}
    for key in ("pipe", "stage", "executor", "batch_size", "batch_ref"):
        value = metadata.get(key)
        if value is None:
            continue
        attributes[f"slither.{key}"] = (
            value if isinstance(value, str | int | float | bool) else str(value)
        )
    return attributes


class BatchTracing:
    """Emit one OpenTelemetry span per dispatch batch while installed.

    ``tracer_provider`` defaults to the global provider configured by the
    application (``opentelemetry.trace.set_tracer_provider``).
    """

    def __init__(self, tracer_provider: Any = None) -> None:
        self._handler_id = f"slither-otel-{uuid.uuid4().hex[:12]}"
        self._lock = threading.Lock()
        self._open: dict[tuple[str, ...], Any] = {}
        self._tracer: Any = None
        if OTEL_AVAILABLE:
            self._tracer = _otel_trace.get_tracer("slither_stream",
                                                  tracer_provider=tracer_provider)

    @property
    def enabled(self) -> bool:
        """True when OpenTelemetry is importable, i.e. spans are really produced."""
        return self._tracer is not None

    def install(self) -> BatchTracing:
        """Start producing spans (a no-op without OpenTelemetry). Returns ``self``."""
        if self.enabled:
            telemetry.attach_many(self._handler_id, [_START, _STOP, _EXCEPTION], self.handle)
        return self

    def uninstall(self) -> None:
        """Stop producing spans; spans still open are ended as they are."""
        telemetry.detach(self._handler_id)
        with self._lock:
            leftover = list(self._open.values())
            self._open.clear()
        for span in leftover:
            span.end()

    def open_spans(self) -> int:
        """How many batches started and have not finished yet."""
        with self._lock:
            return len(self._open)

    def handle(self, event: Event, measurements: Measurements, metadata: Metadata) -> None:
        """Start or end the span of the batch named by ``metadata``.

        Never raises: a raising telemetry handler would be detached for good.
        """
        if self._tracer is None:
            return
        try:
            self._handle(event, measurements, metadata)
        except Exception:
            _log.warning("could not trace %s", ".".join(event), exc_info=True)

    def _handle(self, event: Event, measurements: Measurements, metadata: Metadata) -> None:
        key = self._key(metadata)
        if event == _START:
            self._start(key, measurements, metadata)
            return
        with self._lock:
            span = self._open.pop(key, None)
        if span is None:
            _log.debug("dispatch batch %s finished without a recorded start", key)
            return
        if event == _EXCEPTION:
            kind = str(metadata.get("kind", ""))
            reason = str(metadata.get("reason", ""))
            span.add_event("exception", {"exception.type": kind, "exception.message": reason})
            span.set_status(Status(StatusCode.ERROR, f"{kind}: {reason}"))
        else:
            span.set_status(Status(StatusCode.OK))
        span.end()

    def _start(self, key: tuple[str, ...], measurements: Measurements,
               metadata: Metadata) -> None:
        system_time = measurements.get("system_time")
        start_ns = int(system_time * 1e9) if isinstance(system_time, int | float) else None
        span = self._tracer.start_span(SPAN_NAME, attributes=_attributes(metadata),
                                       start_time=start_ns)
        evicted = None
        with self._lock:
            self._open[key] = span
            if len(self._open) > MAX_OPEN_SPANS:
                oldest = next(iter(self._open))
                evicted = self._open.pop(oldest)
        if evicted is not None:
            _log.warning("more than %d dispatch batches without a stop; ending the oldest span",
                         MAX_OPEN_SPANS)
            evicted.end()

    @staticmethod
    def _key(metadata: Metadata) -> tuple[str, ...]:
        ref = metadata.get("batch_ref")
        scope = (str(metadata.get("pipe", "")), str(metadata.get("stage", "")))
        if ref is None:
            return (*scope, f"thread-{threading.get_ident()}")
        return (*scope, str(ref))
