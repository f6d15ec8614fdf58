"""Store size gauges: a running store's keys and bytes, scraped from ``/metrics``.

Runs a real store on both backends with a metrics registry and its HTTP endpoint in
the process (as a worker runs them) and checks the served ``slither_store_size``
and ``slither_store_size_bytes`` against what was written, within RocksDB's
``estimate-num-keys`` semantics (see ``slither_stream/store/size.py``): exact for
keys written once; otherwise between ``live - deletes`` and ``live + overwrites``.
"""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from slither_stream import telemetry
from slither_stream.observability import MetricsRegistry, MetricsServer
from slither_stream.store import StoreApp
from slither_stream.store.generations import Generation, generation_name
from slither_stream.store.size import STORE_SIZE, SizeReporter
from slither_stream.store.spec import TableSpec
from tests.contract.helpers import eventually
from tests.e2e.test_workers import Lines
from tests.observability.conftest import http_get, key, samples
from tests.observability.test_worker_metrics import free_port_block
from tests.store.stores import Counters

ROOT = Path(__file__).resolve().parents[2]
SCORING = ROOT / "topologies" / "scoring.py"

Namer = Callable[[str], str]


@pytest.fixture
def served(metrics: MetricsRegistry) -> Iterator[MetricsServer]:
    with MetricsServer(metrics) as server:
        yield server


def _scrape(server: MetricsServer, name: str, table: str) -> float | None:
    status, _, body = http_get(f"{server.url}/metrics")
    assert status == 200
    return samples(body).get(key(name, store="counters", table=table))


def _sst_bytes(directory: Path) -> int:
    return sum(path.stat().st_size for path in directory.glob("*.sst"))


def test_store_size_is_served(log_url: str, unique_name: Namer, tmp_path: Path,
                              served: MetricsServer) -> None:
    data_dir = tmp_path / "stores"
    with StoreApp([Counters], log=log_url, app=unique_name("sized"), data_dir=data_dir,
                  grace_period=0.05) as app:
        # Reported once the store is started (restored): empty.
        assert _scrape(served, "slither_store_size", "plain") == 0
        assert _scrape(served, "slither_store_size", "ordered") == 0
        table = app["counters"].table("plain")
        table.bulk_insert((f"k{i}", {"n": i}) for i in range(1000))
        # Writes are reported at most once a second, the last one always.
        eventually(lambda: _scrape(served, "slither_store_size", "plain") == 1000,
                   timeout=10, what="1000 keys in slither_store_size")
        assert _scrape(served, "slither_store_size", "ordered") == 0
        for i in range(100):
            table.put(f"k{i}", {"n": -i})  # overwrites: 1000 live keys
        for i in range(100, 150):
            table.delete(f"k{i}")  # 950 live keys
        # Each put counts and each delete subtracts until compaction: the estimate
        # is within [live - deletes, live + overwrites] = [900, 1050]. (The trailing
        # report after the last delete shows it; RocksDB says 1050 from memtables.)
        eventually(lambda: _scrape(served, "slither_store_size", "plain") != 1000,
                   timeout=10, what="a size report after the updates")
        estimate = _scrape(served, "slither_store_size", "plain")
        assert estimate is not None and 900 <= estimate <= 1050
        number = app["counters"].reload("changelog")
        # Reported after the reload swap, from the new, flushed generation (RocksDB
        # says 900 there: the 50 tombstones of the replay count -1 each).
        estimate = _scrape(served, "slither_store_size", "plain")
        assert estimate is not None and 900 <= estimate <= 1050
        on_disk = _scrape(served, "slither_store_size_bytes", "plain")
        generation_dir = data_dir / app.app / "counters" / generation_name(number)
        assert on_disk is not None and 0 < on_disk <= _sst_bytes(generation_dir)
        assert _scrape(served, "slither_store_size_bytes", "ordered") == 0


def test_reports_are_throttled_with_a_trailing_one(tmp_path: Path) -> None:
    generation = Generation(tmp_path, 1, [TableSpec("t")])
    seen: list[tuple[str, float]] = []
    scheduled: list[tuple[float, Callable[[], float | None]]] = []
    telemetry.attach("test-store-size", STORE_SIZE,
                     lambda _e, m, meta: seen.append((meta["table"], m["size"])))
    try:
        reporter = SizeReporter("s", lambda: generation,
                                lambda delay, action: scheduled.append((delay, action)),
                                interval=30.0)
        generation.tables["t"][b"a"] = b"1"
        started = time.monotonic()
        reporter.changed()  # first: reported at once
        assert seen == [("t", 1)] and scheduled == []
        generation.tables["t"][b"b"] = b"2"
        reporter.changed()  # within the interval: one trailing report scheduled
        reporter.changed()
        assert seen == [("t", 1)] and len(scheduled) == 1
        delay, action = scheduled[0]
        assert 0 < delay <= 30.0 - (time.monotonic() - started) + 0.01
        action()  # the owner's upkeep thread runs it after ``delay``
        assert seen == [("t", 1), ("t", 2)]
        reporter.changed()  # the trailing report restarted the interval
        assert len(scheduled) == 2 and seen[-1] == ("t", 2)
    finally:
        telemetry.detach("test-store-size")
        generation.close()


def test_nothing_is_measured_without_a_listener(tmp_path: Path) -> None:
    generation = Generation(tmp_path, 1, [TableSpec("t")])
    asked: list[bool] = []

    def live() -> Generation:
        asked.append(True)
        return generation

    try:
        reporter = SizeReporter("s", live, lambda delay, action: None)
        reporter.changed()
        reporter.report()
        assert asked == []
    finally:
        generation.close()


def test_bad_interval_is_refused(tmp_path: Path) -> None:
    with pytest.raises(Exception, match="size interval"):
        SizeReporter("s", lambda: None, lambda delay, action: None, interval=-1)


def test_worker_serves_the_size_of_its_loaded_store(log_url: str, unique_name: Namer,
                                                    tmp_path: Path) -> None:
    """``slither worker`` on the scoring topology: the features store is loaded from
    its CSV at start, and the worker's endpoint serves its size once ready."""
    with (ROOT / "topologies" / "data" / "features.csv").open() as handle:
        users = {row["user_id"] for row in csv.DictReader(handle)}
    port = free_port_block(2)
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "slither"), "worker", str(SCORING),
         "--log", log_url, "--namespace", unique_name("sizedworker"),
         "--metrics-port", str(port)],
        cwd=tmp_path, env={**os.environ, "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = Lines(process)
    try:
        lines.wait_for(r"serving /metrics", timeout=60)
        url = f"http://127.0.0.1:{port}"
        eventually(lambda: http_get(f"{url}/healthz")[0] == 200, timeout=60,
                   what="the worker ready")
        got = samples(http_get(f"{url}/metrics")[2])
        # The store's owner: the supervisor on Kafka, the worker process otherwise.
        sizes = {dict(labels)["member"]: value for (name, labels), value in got.items()
                 if name == "slither_store_size" and ("store", "features") in labels}
        assert list(sizes.values()) == [len(users)], sizes
        (member,) = sizes
        on_disk = got[key("slither_store_size_bytes", store="features", table="users",
                          member=member)]
        assert on_disk > 0  # load() builds a flushed generation
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
    assert process.returncode == 0
