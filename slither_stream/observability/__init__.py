"""Observability for workers: Prometheus metrics, health endpoints, logs, tracing.

Everything is fed by :mod:`slither_stream.telemetry` events; nothing in the data
path imports this package. The usual entry points:

- :func:`start_observability` - install metrics and tracing, serve ``/metrics``,
  ``/healthz`` and ``/livez`` on ``--metrics-port``.
- :func:`configure_logging` / :func:`bind` - JSON or text log lines with fields.
- :mod:`~slither_stream.observability.events` - the operator events (records,
  lag, DLQ, store size, restore progress) and ``emit_*`` helpers to send them.
"""

from slither_stream.observability.cli_options import observability_options
from slither_stream.observability.events import (
    emit_dlq,
    emit_lag,
    emit_lag_clear,
    emit_records,
    emit_restore_progress,
    emit_store_size,
)
from slither_stream.observability.federation import Members
from slither_stream.observability.health import Readiness
from slither_stream.observability.logs import bind, configure_logging
from slither_stream.observability.metrics import MetricsRegistry
from slither_stream.observability.runtime import Observability, start_observability
from slither_stream.observability.server import MetricsServer
from slither_stream.observability.tracing import OTEL_AVAILABLE, BatchTracing

__all__ = [
    "OTEL_AVAILABLE",
    "BatchTracing",
    "Members",
    "MetricsRegistry",
    "MetricsServer",
    "Observability",
    "Readiness",
    "bind",
    "configure_logging",
    "emit_dlq",
    "emit_lag",
    "emit_lag_clear",
    "emit_records",
    "emit_restore_progress",
    "emit_store_size",
    "observability_options",
    "start_observability",
]
