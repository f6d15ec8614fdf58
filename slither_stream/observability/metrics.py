"""Prometheus metrics fed by telemetry events.

A :class:`MetricsRegistry` owns its own ``prometheus_client.CollectorRegistry`` (never
the library's global default), so two registries in one process - or two tests - do
not see each other's numbers. ``install()`` attaches one telemetry handler to every
event below; ``uninstall()`` detaches it. Nothing here is emitted by this module:
the pipe, dispatch and store layers emit, this module only listens.

Events consumed (see :mod:`slither_stream.telemetry` for the core ones and
:mod:`slither_stream.observability.events` for the operator ones) and the metric
each one feeds. Metric names are the family names; counters are exposed with a
``_total`` suffix and histograms with ``_bucket``/``_sum``/``_count``.

===========================================  =================================================
Event                                        Metric (labels)
===========================================  =================================================
``slither.pipe.stage.stop|exception``        ``slither_records`` counter (stage, direction):
metadata ``batch_size``, ``records_out``,    "in" += batch_size (records consumed), "out" +=
``dead_lettered`` (the last two optional)    records_out; ``slither_dlq_records`` +=
                                             dead_lettered. A stage runtime reports through
                                             its span metadata like this.
``slither.pipe.records`` {count}             ``slither_records`` counter (stage, direction),
                                             for code outside stage spans
``slither.pipe.lag`` {lag}                   ``slither_consumer_lag`` gauge
                                             (stage, topic, partition); see
                                             :mod:`~slither_stream.observability.lag` for
                                             lag read from the log at scrape time
``slither.pipe.lag.clear``                   removes that ``slither_consumer_lag`` series
``slither.pipe.dlq`` {count}                 ``slither_dlq_records`` counter (stage)
``slither.dispatch.batch.start``             ``slither_dispatch_batches_in_flight`` gauge +1
                                             (stage, executor)
``slither.dispatch.batch.stop`` {duration}   ``slither_dispatch_batch_duration_seconds``
                                             histogram, ``slither_dispatch_items`` counter
                                             (batch_size), in-flight -1
``slither.dispatch.batch.exception``         ``slither_dispatch_batch_failures`` counter
                                             (stage, executor, kind), in-flight -1
``slither.dispatch.batch.skip`` {count}      ``slither_dispatch_skipped_items`` counter
                                             (stage, executor, kind)
``slither.pipe.backpressure.pause|resume``   ``slither_backpressure_paused`` gauge (1/0) and
{lag}                                        ``slither_backpressure_pauses`` counter (stage),
                                             ``slither_downstream_lag`` gauge
                                             (stage, downstream_group)
``slither.pipe.stage.stop`` {duration}       ``slither_stage_duration_seconds`` histogram
                                             (stage, type)
``slither.pipe.stage.exception``             ``slither_stage_failures`` counter
                                             (stage, type, kind)
``slither.pipe.run.stop|exception``          ``slither_pipe_runs`` counter (pipe, outcome),
                                             ``slither_pipe_run_duration_seconds`` (pipe)
``slither.store.write`` {count}              ``slither_store_writes`` counter (store, table)
``slither.store.size`` {size, bytes}         ``slither_store_size`` gauge (store, table):
                                             keys, RocksDB's ``estimate-num-keys`` (exact
                                             for keys written once, else within
                                             [live - deletes, live + overwrites]);
                                             ``slither_store_size_bytes`` gauge: the
                                             table's SST files on disk (``bytes`` is
                                             optional; memtable data counts once flushed)
``slither.store.restore.progress``           ``slither_store_restore_records``,
{records, total}                             ``slither_store_restore_total_records`` and
                                             ``slither_store_restore_ratio`` gauges
                                             (store, table; ``table`` is empty for a
                                             whole-store restore; metadata ``done=True``
                                             sets the ratio to 1, since ``total`` may be
                                             an upper bound)
``slither.store.reload.stop`` {duration}     ``slither_store_reload_duration_seconds``
                                             histogram (store)
``slither.state.restore.progress``           ``slither_state_restore_records``,
{records, total}                             ``slither_state_restore_total_records`` and
                                             ``slither_state_restore_ratio`` gauges
                                             (stage, partition): a stage's keyed state
                                             restored for one input partition; ``done``
                                             sets the ratio to 1
===========================================  =================================================

Metrics that do not come from events: ``slither_ready`` (1 once the process is ready,
see :meth:`MetricsRegistry.track_readiness`), ``slither_telemetry_errors`` (events
that arrived malformed, by event name), and lag read from the log at scrape time
(:meth:`MetricsRegistry.watch_pipe_lag`) with its ``slither_lag_errors``.

A malformed event is logged and counted, never raised: a raising telemetry handler
is detached, and losing every metric because one emitter sent a bad number would be
worse than losing that one sample.
"""

from __future__ import annotations

import logging
import math
import uuid
from collections.abc import Callable, Mapping, Sequence
from types import TracebackType
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from slither_stream import telemetry
from slither_stream.observability import events
from slither_stream.observability.lag import LagCollector, LagSource, LagWatch, PipeStages
from slither_stream.telemetry import Event, Measurements, Metadata

_log = logging.getLogger(__name__)

NAMESPACE = "slither"

BATCH_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, math.inf)
"""Seconds. Compute batches range from sub-millisecond lookups to minute-long models."""

_DISPATCH_START = (*telemetry.DISPATCH_BATCH, "start")
_DISPATCH_STOP = (*telemetry.DISPATCH_BATCH, "stop")
_DISPATCH_EXCEPTION = (*telemetry.DISPATCH_BATCH, "exception")
_DISPATCH_SKIP = (*telemetry.DISPATCH_BATCH, "skip")
_BACKPRESSURE_PAUSE = ("slither", "pipe", "backpressure", "pause")
_BACKPRESSURE_RESUME = ("slither", "pipe", "backpressure", "resume")
_STAGE_STOP = (*telemetry.PIPE_STAGE, "stop")
_STAGE_EXCEPTION = (*telemetry.PIPE_STAGE, "exception")
_RUN_STOP = (*telemetry.PIPE_RUN, "stop")
_RUN_EXCEPTION = (*telemetry.PIPE_RUN, "exception")
_RELOAD_STOP = (*telemetry.STORE_RELOAD, "stop")

_SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "gauge": ("",),
}


class BadEventError(ValueError):
    """An event lacked a measurement or carried one that is not a usable number."""


def _label(metadata: Mapping[str, Any], key: str) -> str:
    value = metadata.get(key)
    return "" if value is None else str(value)


def _measure(event: Event, measurements: Mapping[str, float], key: str) -> float:
    if key not in measurements:
        raise BadEventError(f"event {'.'.join(event)} has no measurement {key!r}")
    raw = measurements[key]
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise BadEventError(
            f"event {'.'.join(event)}: measurement {key!r} is not a number: {raw!r}"
        ) from None
    if math.isnan(value) or value < 0:
        raise BadEventError(
            f"event {'.'.join(event)}: measurement {key!r} must be >= 0, got {raw!r}"
        )
    return value


class MetricsRegistry:
    """The Prometheus metrics of one process, fed by telemetry.

    Use ``install()`` (or ``with MetricsRegistry() as metrics:``) to start listening
    and :meth:`exposition` (or :class:`~slither_stream.observability.server.MetricsServer`)
    to read the numbers. :meth:`handle` is public so a caller can feed an event
    without going through the telemetry bus.
    """

    def __init__(self, batch_buckets: tuple[float, ...] = BATCH_BUCKETS) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._handler_id = f"slither-metrics-{uuid.uuid4().hex[:12]}"
        self._installed = False
        reg = self.registry

        def counter(name: str, doc: str, labels: list[str]) -> Counter:
            return Counter(name, doc, labels, namespace=NAMESPACE, registry=reg)

        def gauge(name: str, doc: str, labels: list[str]) -> Gauge:
            return Gauge(name, doc, labels, namespace=NAMESPACE, registry=reg)

        def histogram(name: str, doc: str, labels: list[str]) -> Histogram:
            return Histogram(name, doc, labels, namespace=NAMESPACE, registry=reg,
                             buckets=batch_buckets)

        self.records = counter("records", "Records read (in) or written (out) by a stage.",
                               ["stage", "direction"])
        self.lag = LagCollector(NAMESPACE)
        reg.register(self.lag)
        self.dlq_records = counter("dlq_records", "Records sent to the dead-letter topic.",
                                   ["stage"])
        self.batches_in_flight = gauge("dispatch_batches_in_flight",
                                       "Dispatch batches started and not yet finished.",
                                       ["stage", "executor"])
        self.batch_duration = histogram("dispatch_batch_duration_seconds",
                                        "Wall time of successful dispatch batches.",
                                        ["stage", "executor"])
        self.dispatch_items = counter("dispatch_items",
                                      "Items in successfully finished dispatch batches.",
                                      ["stage", "executor"])
        self.batch_failures = counter("dispatch_batch_failures",
                                      "Dispatch batches that raised, by exception kind.",
                                      ["stage", "executor", "kind"])
        self.skipped_items = counter("dispatch_skipped_items",
                                     "Items of failed batches dropped by on_error=skip.",
                                     ["stage", "executor", "kind"])
        self.backpressure_paused = gauge("backpressure_paused",
                                         "1 while a stage pauses its input for downstream lag.",
                                         ["stage"])
        self.backpressure_pauses = counter("backpressure_pauses",
                                           "Times a stage paused its input for downstream lag.",
                                           ["stage"])
        self.downstream_lag = gauge("downstream_lag",
                                    "Downstream consumer lag seen at the last pause/resume.",
                                    ["stage", "downstream_group"])
        self.stage_duration = histogram("stage_duration_seconds",
                                        "Wall time of successful stage spans.",
                                        ["stage", "type"])
        self.stage_failures = counter("stage_failures", "Stage spans that raised.",
                                      ["stage", "type", "kind"])
        self.pipe_runs = counter("pipe_runs", "Finished pipe runs by outcome (ok or error).",
                                 ["pipe", "outcome"])
        self.pipe_run_duration = histogram("pipe_run_duration_seconds",
                                           "Wall time of pipe runs, successful or not.",
                                           ["pipe"])
        self.store_writes = counter("store_writes", "Records written to a store table.",
                                    ["store", "table"])
        self.store_size = gauge("store_size",
                                "Keys in a store table (RocksDB estimate-num-keys).",
                                ["store", "table"])
        self.store_size_bytes = gauge("store_size_bytes",
                                      "Bytes of a store table's SST files on disk.",
                                      ["store", "table"])
        self.restore_records = gauge("store_restore_records",
                                     "Changelog records restored so far.", ["store", "table"])
        self.restore_total = gauge("store_restore_total_records",
                                   "Changelog records to restore in total.", ["store", "table"])
        self.restore_ratio = gauge("store_restore_ratio",
                                   "Restore progress from 0 to 1 (1 when nothing to restore).",
                                   ["store", "table"])
        self.state_restore_records = gauge(
            "state_restore_records",
            "Changelog records of a stage's keyed state restored so far, per partition.",
            ["stage", "partition"])
        self.state_restore_total = gauge(
            "state_restore_total_records",
            "Changelog records of a stage's keyed state to restore, per partition.",
            ["stage", "partition"])
        self.state_restore_ratio = gauge(
            "state_restore_ratio",
            "Keyed state restore progress from 0 to 1, per stage and partition.",
            ["stage", "partition"])
        self.reload_duration = histogram("store_reload_duration_seconds",
                                         "Wall time of store reloads.", ["store"])
        self.telemetry_errors = counter("telemetry_errors",
                                        "Malformed telemetry events that were dropped.",
                                        ["event"])
        self.ready = Gauge("ready", "1 once the process is ready to serve (stores restored).",
                           namespace=NAMESPACE, registry=reg)

        self._routes: dict[Event, Callable[[Event, Measurements, Metadata], None]] = {
            events.PIPE_RECORDS: self._on_records,
            events.PIPE_LAG: self._on_lag,
            events.PIPE_LAG_CLEAR: self._on_lag_clear,
            events.PIPE_DLQ: self._on_dlq,
            _DISPATCH_START: self._on_batch_start,
            _DISPATCH_STOP: self._on_batch_stop,
            _DISPATCH_EXCEPTION: self._on_batch_exception,
            _DISPATCH_SKIP: self._on_batch_skip,
            _BACKPRESSURE_PAUSE: self._on_backpressure,
            _BACKPRESSURE_RESUME: self._on_backpressure,
            _STAGE_STOP: self._on_stage_stop,
            _STAGE_EXCEPTION: self._on_stage_exception,
            _RUN_STOP: self._on_run_end,
            _RUN_EXCEPTION: self._on_run_end,
            telemetry.STORE_WRITE: self._on_store_write,
            events.STORE_SIZE: self._on_store_size,
            events.STORE_RESTORE_PROGRESS: self._on_restore_progress,
            events.STATE_RESTORE_PROGRESS: self._on_state_restore_progress,
            _RELOAD_STOP: self._on_reload_stop,
        }

    # -- lifecycle -----------------------------------------------------------------

    @property
    def installed(self) -> bool:
        """True while this registry listens to telemetry."""
        return self._installed

    def install(self) -> MetricsRegistry:
        """Attach to every consumed event; idempotent. Returns ``self``."""
        telemetry.attach_many(self._handler_id, list(self._routes), self.handle)
        self._installed = True
        return self

    def uninstall(self) -> None:
        """Detach from telemetry; the numbers gathered so far stay readable."""
        telemetry.detach(self._handler_id)
        self._installed = False

    def __enter__(self) -> MetricsRegistry:
        return self.install()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.uninstall()

    def watch_lag(self, log: LagSource, *, stage: str, group: str, topic: str) -> None:
        """Report ``group``'s lag on ``topic`` as ``stage``'s, read at every scrape."""
        self.lag.watch(log, stage=stage, group=group, topic=topic)

    def watch_pipe_lag(self, log: LagSource, definition: PipeStages,
                       stages: Sequence[str] | None = None) -> list[LagWatch]:
        """Watch the input lag of ``stages`` (default all) of a compiled pipe definition."""
        return self.lag.watch_pipe(log, definition, stages)

    def track_readiness(self, is_ready: Callable[[], bool]) -> None:
        """Make ``slither_ready`` read ``is_ready()`` at every scrape."""
        self.ready.set_function(lambda: 1.0 if is_ready() else 0.0)

    # -- reading -------------------------------------------------------------------

    def exposition(self) -> bytes:
        """The Prometheus text format of every metric, as served on ``/metrics``."""
        return bytes(generate_latest(self.registry))

    def metric_names(self) -> set[str]:
        """Every sample name this registry can expose (``slither_records_total``, ...).

        Includes series that have no samples yet, so a dashboard can be checked
        against it before any event arrived.
        """
        names: set[str] = set()
        for family in self.registry.collect():
            for suffix in _SUFFIXES.get(family.type, ("",)):
                names.add(family.name + suffix)
        return names

    # -- the telemetry handler -----------------------------------------------------

    def handle(self, event: Event, measurements: Measurements, metadata: Metadata) -> None:
        """Update the metrics for one event; malformed events are logged and counted."""
        route = self._routes.get(tuple(event))
        if route is None:
            return
        try:
            route(tuple(event), measurements, metadata)
        except Exception as error:
            name = ".".join(event)
            _log.warning("dropping malformed telemetry event %s: %s", name, error)
            self.telemetry_errors.labels(event=name).inc()

    def _on_records(self, event: Event, m: Measurements, meta: Metadata) -> None:
        direction = _label(meta, "direction")
        if direction not in events.DIRECTIONS:
            raise BadEventError(f"metadata 'direction' must be 'in' or 'out', got {direction!r}")
        count = _measure(event, m, "count")
        self.records.labels(stage=_label(meta, "stage"), direction=direction).inc(count)

    def _on_lag(self, event: Event, m: Measurements, meta: Metadata) -> None:
        self.lag.report(_label(meta, "stage"), _label(meta, "topic"),
                        _label(meta, "partition"), _measure(event, m, "lag"))

    def _on_lag_clear(self, event: Event, m: Measurements, meta: Metadata) -> None:
        self.lag.clear(_label(meta, "stage"), _label(meta, "topic"), _label(meta, "partition"))

    def _on_dlq(self, event: Event, m: Measurements, meta: Metadata) -> None:
        self.dlq_records.labels(stage=_label(meta, "stage")).inc(_measure(event, m, "count"))

    def _batch_labels(self, meta: Metadata) -> dict[str, str]:
        return {"stage": _label(meta, "stage"), "executor": _label(meta, "executor")}

    def _on_batch_start(self, event: Event, m: Measurements, meta: Metadata) -> None:
        self.batches_in_flight.labels(**self._batch_labels(meta)).inc()

    def _on_batch_stop(self, event: Event, m: Measurements, meta: Metadata) -> None:
        labels = self._batch_labels(meta)
        self.batches_in_flight.labels(**labels).dec()
        self.batch_duration.labels(**labels).observe(_measure(event, m, "duration"))
        size = meta.get("batch_size")
        if size is not None:
            self.dispatch_items.labels(**labels).inc(_measure(event, {"batch_size": size},
                                                              "batch_size"))

    def _on_batch_exception(self, event: Event, m: Measurements, meta: Metadata) -> None:
        labels = self._batch_labels(meta)
        self.batches_in_flight.labels(**labels).dec()
        self.batch_failures.labels(**labels, kind=_label(meta, "kind")).inc()

    def _on_batch_skip(self, event: Event, m: Measurements, meta: Metadata) -> None:
        self.skipped_items.labels(**self._batch_labels(meta), kind=_label(meta, "kind")) \
            .inc(_measure(event, m, "count"))

    def _on_backpressure(self, event: Event, m: Measurements, meta: Metadata) -> None:
        stage = _label(meta, "stage")
        lag = _measure(event, m, "lag")
        paused = event == _BACKPRESSURE_PAUSE
        self.backpressure_paused.labels(stage=stage).set(1.0 if paused else 0.0)
        if paused:
            self.backpressure_pauses.labels(stage=stage).inc()
        self.downstream_lag.labels(stage=stage,
                                   downstream_group=_label(meta, "downstream_group")).set(lag)

    def _count_stage_records(self, event: Event, meta: Metadata) -> None:
        stage = _label(meta, "stage")
        for field, direction in (("batch_size", "in"), ("records_out", "out")):
            value = meta.get(field)
            if value is not None:
                self.records.labels(stage=stage, direction=direction) \
                    .inc(_measure(event, {field: value}, field))
        dead = meta.get("dead_lettered")
        if dead is not None:
            self.dlq_records.labels(stage=stage) \
                .inc(_measure(event, {"dead_lettered": dead}, "dead_lettered"))

    def _on_stage_stop(self, event: Event, m: Measurements, meta: Metadata) -> None:
        self._count_stage_records(event, meta)
        self.stage_duration.labels(stage=_label(meta, "stage"), type=_label(meta, "type")) \
            .observe(_measure(event, m, "duration"))

    def _on_stage_exception(self, event: Event, m: Measurements, meta: Metadata) -> None:
        self._count_stage_records(event, meta)
        self.stage_failures.labels(stage=_label(meta, "stage"), type=_label(meta, "type"),
                                   kind=_label(meta, "kind")).inc()

    def _on_run_end(self, event: Event, m: Measurements, meta: Metadata) -> None:
        pipe = _label(meta, "pipe")
        outcome = "ok" if event == _RUN_STOP else "error"
        self.pipe_run_duration.labels(pipe=pipe).observe(_measure(event, m, "duration"))
        self.pipe_runs.labels(pipe=pipe, outcome=outcome).inc()

    def _store_labels(self, meta: Metadata) -> dict[str, str]:
        return {"store": _label(meta, "store"), "table": _label(meta, "table")}

    def _on_store_write(self, event: Event, m: Measurements, meta: Metadata) -> None:
        self.store_writes.labels(**self._store_labels(meta)).inc(_measure(event, m, "count"))

    def _on_store_size(self, event: Event, m: Measurements, meta: Metadata) -> None:
        labels = self._store_labels(meta)
        keys = _measure(event, m, "size")
        size_bytes = _measure(event, m, "bytes") if "bytes" in m else None
        self.store_size.labels(**labels).set(keys)
        if size_bytes is not None:
            self.store_size_bytes.labels(**labels).set(size_bytes)

    def _on_restore_progress(self, event: Event, m: Measurements, meta: Metadata) -> None:
        records = _measure(event, m, "records")
        total = _measure(event, m, "total")
        labels = self._store_labels(meta)
        self.restore_records.labels(**labels).set(records)
        self.restore_total.labels(**labels).set(total)
        complete = total == 0 or meta.get("done") is True
        self.restore_ratio.labels(**labels).set(1.0 if complete else min(records / total, 1.0))

    def _on_state_restore_progress(self, event: Event, m: Measurements,
                                   meta: Metadata) -> None:
        records = _measure(event, m, "records")
        total = _measure(event, m, "total")
        labels = {"stage": _label(meta, "stage"), "partition": _label(meta, "partition")}
        self.state_restore_records.labels(**labels).set(records)
        self.state_restore_total.labels(**labels).set(total)
        complete = total == 0 or meta.get("done") is True
        self.state_restore_ratio.labels(**labels).set(
            1.0 if complete else min(records / total, 1.0))

    def _on_reload_stop(self, event: Event, m: Measurements, meta: Metadata) -> None:
        self.reload_duration.labels(store=_label(meta, "store")) \
            .observe(_measure(event, m, "duration"))
