"""Telemetry events the observability layer consumes, and helpers to emit them.

The core events (``slither.dispatch.batch.*``, ``slither.store.write``,
``slither.store.reload.*``, ``slither.pipe.run.*``, ``slither.pipe.stage.*``) are
defined in :mod:`slither_stream.telemetry`. This module adds the events that only
make sense to an operator watching a long-lived worker. The pipe and store layers
emit them (directly with :func:`slither_stream.telemetry.execute`, or through the
``emit_*`` helpers below, which validate their arguments and cost one dict lookup
when nothing listens).

========================================  ======================  ===========================
Event                                     Measurements            Metadata
========================================  ======================  ===========================
``slither.pipe.records``                  ``count``               ``stage``, ``direction``
                                                                  (``"in"`` or ``"out"``)
``slither.pipe.lag``                      ``lag`` (records)       ``stage``, ``topic``,
                                                                  ``partition``
``slither.pipe.lag.clear``                (none)                  ``stage``, ``topic``,
                                                                  ``partition``
``slither.pipe.dlq``                      ``count``               ``stage``
``slither.store.size``                    ``size`` (keys),        ``store``, ``table``
                                          ``bytes`` (optional)
``slither.store.restore.progress``        ``records``, ``total``  ``store``, ``table``
``slither.state.restore.progress``        ``records``, ``total``  ``stage``, ``partition``,
                                          (``rate``, ``elapsed``) ``done``
========================================  ======================  ===========================

``slither.state.restore.progress`` is a stage's keyed state being restored for one
input partition (a task): emitted by
:mod:`slither_stream.store.partitioned.recovery` when it starts, every few seconds,
and when it is done.

A stage runtime does not need ``slither.pipe.records`` or ``slither.pipe.dlq``: it
adds ``records_out`` and ``dead_lettered`` to the metadata of its
``slither.pipe.stage`` span (``batch_size`` already counts the records in); see
:mod:`slither_stream.observability.metrics`. The events are for code that consumes
or produces outside a stage span. Lag can also be read from the log at scrape time
instead of emitted (:meth:`MetricsRegistry.watch_pipe_lag
<slither_stream.observability.metrics.MetricsRegistry.watch_pipe_lag>`).

``lag.clear`` is emitted when a partition is revoked from a worker, so the worker
stops reporting a lag it no longer owns (otherwise the gauge would freeze at its
last value and mislead whoever watches the dashboard).
"""

from __future__ import annotations

from slither_stream import telemetry
from slither_stream.errors import ConfigError

PIPE_RECORDS: telemetry.Event = ("slither", "pipe", "records")
PIPE_LAG: telemetry.Event = ("slither", "pipe", "lag")
PIPE_LAG_CLEAR: telemetry.Event = ("slither", "pipe", "lag", "clear")
PIPE_DLQ: telemetry.Event = ("slither", "pipe", "dlq")
STORE_SIZE: telemetry.Event = ("slither", "store", "size")
STORE_RESTORE_PROGRESS: telemetry.Event = ("slither", "store", "restore", "progress")
STATE_RESTORE_PROGRESS: telemetry.Event = ("slither", "state", "restore", "progress")

DIRECTIONS = ("in", "out")


def _require_non_negative(name: str, value: float) -> None:
    if value < 0:
        raise ConfigError(f"{name} must be >= 0, got {value!r}")


def emit_records(stage: str, direction: str, count: int) -> None:
    """Report ``count`` records read (``"in"``) or written (``"out"``) by ``stage``."""
    if direction not in DIRECTIONS:
        raise ConfigError(f"direction must be one of {DIRECTIONS}, got {direction!r}")
    _require_non_negative("count", count)
    if telemetry.has_handlers(PIPE_RECORDS):
        telemetry.execute(PIPE_RECORDS, {"count": count},
                          {"stage": stage, "direction": direction})


def emit_lag(stage: str, topic: str, partition: int, lag: int) -> None:
    """Report the consumer lag (end offset - committed offset) of one partition."""
    _require_non_negative("lag", lag)
    if telemetry.has_handlers(PIPE_LAG):
        telemetry.execute(PIPE_LAG, {"lag": lag},
                          {"stage": stage, "topic": topic, "partition": partition})


def emit_lag_clear(stage: str, topic: str, partition: int) -> None:
    """Say that ``stage`` no longer owns ``topic``/``partition`` (it was revoked)."""
    if telemetry.has_handlers(PIPE_LAG_CLEAR):
        telemetry.execute(PIPE_LAG_CLEAR, {},
                          {"stage": stage, "topic": topic, "partition": partition})


def emit_dlq(stage: str, count: int = 1) -> None:
    """Report ``count`` records sent to the dead-letter topic by ``stage``."""
    _require_non_negative("count", count)
    if telemetry.has_handlers(PIPE_DLQ):
        telemetry.execute(PIPE_DLQ, {"count": count}, {"stage": stage})


def emit_store_size(store: str, table: str, size: int, size_bytes: int | None = None) -> None:
    """Report the number of keys in ``store``.``table`` and, when known, the bytes
    of its files on disk (the store owner reports both; see ``store/size.py``)."""
    _require_non_negative("size", size)
    measurements = {"size": size}
    if size_bytes is not None:
        _require_non_negative("size_bytes", size_bytes)
        measurements["bytes"] = size_bytes
    if telemetry.has_handlers(STORE_SIZE):
        telemetry.execute(STORE_SIZE, measurements, {"store": store, "table": table})


def emit_restore_progress(store: str, table: str, records: int, total: int) -> None:
    """Report that ``records`` of ``total`` changelog records have been restored."""
    _require_non_negative("records", records)
    _require_non_negative("total", total)
    if telemetry.has_handlers(STORE_RESTORE_PROGRESS):
        telemetry.execute(STORE_RESTORE_PROGRESS, {"records": records, "total": total},
                          {"store": store, "table": table})
