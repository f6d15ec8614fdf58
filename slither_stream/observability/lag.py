"""``slither_consumer_lag``: consumer lag per stage and partition.

Two sources feed the one gauge family:

- **events** - ``slither.pipe.lag`` {lag} {stage, topic, partition} sets a value,
  ``slither.pipe.lag.clear`` removes it (a worker that lost a partition stops
  reporting it). For code that already knows its lag.
- **watches** - :meth:`LagCollector.watch` names a log, a stage, its consumer group
  and input topic; every scrape then asks the log for that group's lag on every
  partition of the topic (``Log.lag``: the records the group would still receive
  after its committed offset, so transaction markers are not lag). Nothing
  runs between scrapes, so there is no sampling thread and the figure is as fresh
  as the scrape.

A watched stage reports the whole group's lag, so several members of one group
report the same series; aggregate them with ``max`` (the dashboard does), not
``sum``. If the log cannot answer (broker down), that stage's series are left out
of the scrape and the failure is logged and counted in
``slither_lag_errors_total``, so the rest of ``/metrics`` still answers.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from slither_stream.errors import ConfigError

_log = logging.getLogger(__name__)

LAG_LABELS = ("stage", "topic", "partition")


class _PartitionLag(Protocol):
    @property
    def topic(self) -> str: ...

    @property
    def partition(self) -> int: ...

    @property
    def lag(self) -> int: ...


class LagSource(Protocol):
    """What a watch needs from a log: :meth:`slither_stream.log.Log.lag`."""

    def lag(self, group: str, topic: str) -> Sequence[_PartitionLag]: ...


class _StagePlan(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def group(self) -> str: ...

    @property
    def input_topic(self) -> str: ...


class PipeStages(Protocol):
    """A compiled pipe definition, as far as lag watching needs one."""

    @property
    def stages(self) -> Sequence[_StagePlan]: ...


@dataclass(frozen=True)
class LagWatch:
    """One stage whose group lag on its input topic is read at every scrape."""

    log: LagSource
    stage: str
    group: str
    topic: str


class LagCollector:
    """A Prometheus collector for ``slither_consumer_lag`` (events plus watches)."""

    def __init__(self, namespace: str) -> None:
        self._name = f"{namespace}_consumer_lag"
        self._errors_name = f"{namespace}_lag_errors"
        self._lock = threading.Lock()
        self._reported: dict[tuple[str, str, str], float] = {}
        self._watches: dict[tuple[str, str, str], LagWatch] = {}
        self._errors: dict[str, float] = {}

    @property
    def names(self) -> tuple[str, ...]:
        """Sample names this collector exposes."""
        return (self._name, f"{self._errors_name}_total")

    # -- events ----------------------------------------------------------------------

    def report(self, stage: str, topic: str, partition: str, lag: float) -> None:
        """Set the lag of one partition (from a ``slither.pipe.lag`` event)."""
        with self._lock:
            self._reported[(stage, topic, partition)] = lag

    def clear(self, stage: str, topic: str, partition: str) -> None:
        """Forget one partition's reported lag; unknown partitions are ignored."""
        with self._lock:
            self._reported.pop((stage, topic, partition), None)

    # -- watches ---------------------------------------------------------------------

    def watch(self, log: LagSource, *, stage: str, group: str, topic: str) -> None:
        """Read ``group``'s lag on ``topic`` at every scrape, labeled with ``stage``."""
        for what, value in (("stage", stage), ("group", group), ("topic", topic)):
            if not isinstance(value, str) or not value:
                raise ConfigError(f"lag watch needs a non-empty {what}, got {value!r}")
        with self._lock:
            self._watches[(stage, group, topic)] = LagWatch(log, stage, group, topic)

    def watch_pipe(self, log: LagSource, definition: PipeStages,
                   stages: Iterable[str] | None = None) -> list[LagWatch]:
        """Watch the input lag of ``stages`` (default: all) of a compiled pipe."""
        wanted = None if stages is None else set(stages)
        plans = {plan.name: plan for plan in definition.stages}
        if wanted is not None and not wanted <= set(plans):
            raise ConfigError(f"unknown stage(s) {sorted(wanted - set(plans))}; "
                              f"the pipe has {sorted(plans)}")
        added = []
        for name, plan in plans.items():
            if wanted is None or name in wanted:
                self.watch(log, stage=name, group=plan.group, topic=plan.input_topic)
                added.append(LagWatch(log, name, plan.group, plan.input_topic))
        return added

    def unwatch_all(self) -> None:
        """Stop reading lag from logs (for example before the log is closed)."""
        with self._lock:
            self._watches.clear()

    def watches(self) -> list[LagWatch]:
        """The current watches."""
        with self._lock:
            return list(self._watches.values())

    # -- the collector protocol ------------------------------------------------------

    def describe(self) -> list[Metric]:
        """Families without samples, so registering does not query any log."""
        return [
            GaugeMetricFamily(self._name, self._lag_doc(), labels=list(LAG_LABELS)),
            CounterMetricFamily(self._errors_name, self._errors_doc(), labels=["stage"]),
        ]

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            values = dict(self._reported)
            watches = list(self._watches.values())
        for watch in watches:
            try:
                entries = watch.log.lag(watch.group, watch.topic)
            except Exception as error:
                _log.warning("cannot read lag of group %s on %s for stage %s: %s",
                             watch.group, watch.topic, watch.stage, error)
                with self._lock:
                    self._errors[watch.stage] = self._errors.get(watch.stage, 0.0) + 1
                continue
            for entry in entries:
                values[(watch.stage, entry.topic, str(entry.partition))] = float(entry.lag)
        family = GaugeMetricFamily(self._name, self._lag_doc(), labels=list(LAG_LABELS))
        for labels, value in sorted(values.items()):
            family.add_metric(list(labels), value)
        yield family
        errors = CounterMetricFamily(self._errors_name, self._errors_doc(), labels=["stage"])
        with self._lock:
            for stage, count in sorted(self._errors.items()):
                errors.add_metric([stage], count)
        yield errors

    @staticmethod
    def _lag_doc() -> str:
        return ("Records the stage's group would still receive (after its committed "
                "offset), per stage and input partition.")

    @staticmethod
    def _errors_doc() -> str:
        return "Scrapes on which the log could not report a watched stage's lag."
