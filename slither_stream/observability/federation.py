"""One endpoint for a supervisor and its worker processes.

``slither worker --processes N`` runs a supervisor (which, on Kafka, owns the
stores) and N worker processes. Each process has its own telemetry and metrics, but
a container should expose one port: the supervisor serves ``--metrics-port`` and
each worker process serves on a private 127.0.0.1 port that the supervisor records
in a :class:`Members` table. Then, on the supervisor's endpoint:

- ``/metrics`` is the supervisor's own metrics plus every member's, each series
  labeled ``member`` (``supervisor``, ``0``, ``1``, ...). ``slither_ready`` appears
  once, for the whole group: 1 only if the supervisor and every member are ready.
  A member that does not answer is left out and named in ``slither_member_up``
  (0), so one stuck process does not hide the others' numbers.
- ``/healthz`` is 200 only if the supervisor is ready and every member's
  ``/healthz`` is 200; otherwise 503 naming what is pending
  (``member 1``, ``startup``, ...).

Members are asked with a short timeout, in the HTTP server's thread: no background
thread polls them, so what the endpoint answers is what the members answer now.
"""

from __future__ import annotations

import threading
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.parser import text_string_to_metric_families

from slither_stream.errors import ConfigError

SUPERVISOR = "supervisor"
MEMBER_UP = "slither_member_up"
METRIC_NAMES = frozenset({MEMBER_UP})
"""Sample names only a federating endpoint exposes (beyond a MetricsRegistry's)."""
MEMBER_TIMEOUT_SECONDS = 2.0
READY = "slither_ready"


class Members:
    """Thread-safe table ``member -> base URL`` of the processes to federate."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._urls: dict[str, str] = {}

    def set(self, member: str, url: str) -> None:
        """Record (or replace, after a restart) where ``member`` serves."""
        if not member or member == SUPERVISOR:
            raise ConfigError(f"member name must be non-empty and not {SUPERVISOR!r}, "
                              f"got {member!r}")
        if not url.startswith("http://"):
            raise ConfigError(f"member {member!r} url must start with http://, got {url!r}")
        with self._lock:
            self._urls[member] = url.rstrip("/")

    def remove(self, member: str) -> None:
        """Forget ``member`` (it exited for good); unknown members are ignored."""
        with self._lock:
            self._urls.pop(member, None)

    def snapshot(self) -> dict[str, str]:
        """The current table, sorted by member name."""
        with self._lock:
            return dict(sorted(self._urls.items()))


def _get(url: str, timeout: float) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return int(response.status), bytes(response.read())
    except urllib.error.HTTPError as error:
        return int(error.code), bytes(error.read())


def pending_members(members: Mapping[str, str],
                    timeout: float = MEMBER_TIMEOUT_SECONDS) -> list[str]:
    """``["member 1", ...]``: members whose ``/healthz`` is not 200 (or unreachable)."""
    pending = []
    for member, url in members.items():
        try:
            status, _ = _get(f"{url}/healthz", timeout)
        except OSError:
            status = 0
        if status != 200:
            pending.append(f"member {member}")
    return pending


class _Families:
    """A collector that yields families merged beforehand (for generate_latest)."""

    def __init__(self, families: list[Metric]) -> None:
        self.families = families

    def collect(self) -> Iterator[Metric]:
        return iter(self.families)


def _add(merged: dict[str, Metric], text: str, member: str) -> float | None:
    """Merge one exposition into ``merged`` with a ``member`` label; return its ready value."""
    ready: float | None = None
    for family in text_string_to_metric_families(text):
        if family.name == READY:
            ready = family.samples[0].value if family.samples else None
            continue
        target = merged.get(family.name)
        if target is None:
            target = Metric(family.name, family.documentation, family.type, family.unit)
            merged[family.name] = target
        for sample in family.samples:
            target.add_sample(sample.name, {**sample.labels, "member": member}, sample.value,
                              sample.timestamp, sample.exemplar)
    return ready


def federated_exposition(own: CollectorRegistry, own_ready: bool,
                         members: Mapping[str, str],
                         timeout: float = MEMBER_TIMEOUT_SECONDS) -> bytes:
    """The supervisor's and every member's metrics, labeled by ``member``."""
    merged: dict[str, Metric] = {}
    _add(merged, generate_latest(own).decode(), SUPERVISOR)
    all_ready = own_ready
    up = GaugeMetricFamily(MEMBER_UP,
                           "1 if the worker process answered this scrape.", labels=["member"])
    for member, url in members.items():
        try:
            status, body = _get(f"{url}/metrics", timeout)
        except OSError:
            status, body = 0, b""
        answered = status == 200
        up.add_metric([member], 1.0 if answered else 0.0)
        ready = _add(merged, body.decode(), member) if answered else None
        all_ready = all_ready and ready == 1.0
    ready_family = GaugeMetricFamily(
        READY, "1 once the supervisor and every worker process are ready.",
        value=1.0 if all_ready else 0.0)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Families([*merged.values(), up, ready_family]))
    return bytes(generate_latest(registry))
