"""``slither replay`` and ``slither reload`` as subprocesses, on both backends.

Each test writes its own topology file (a one-stage pipe that looks prices up in a
store) with a unique pipe name, because changelog topics are named after the pipe
and the Kafka broker is shared. Store contents are read back with a StoreReader on
the directory the command rebuilt, without the log.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from slither_stream.log import Log, open_log
from slither_stream.log.types import TopicPartition
from slither_stream.pipe.loading import _import_file
from slither_stream.store import StoreApp, StoreReader
from tests.cli.helpers import ROOT, assert_one_line_error, slither, slither_executable

TOPOLOGY = '''
import json
import pathlib

from slither_stream.pipe import Pipe
from slither_stream.store import Store, TableSpec, ViewSpec

PRICES = pathlib.Path(__file__).with_name("prices.json")


class Prices(Store):
    name = "prices"

    def tables(self):
        return [TableSpec("items", key="string"), TableSpec("notes", key="string", partitions=2)]

    def views(self):
        return [ViewSpec("price", self.price)]

    def load(self, tables):
        tables["items"].bulk_insert(json.loads(PRICES.read_text()).items())

    def price(self, item):
        return self.table("items").get(item)


def lookup(item, ctx):
    return {**item.payload, "price": ctx.view("price", item=item.payload["item"])}


pipe = Pipe("PIPE_NAME", partitions=1)
pipe.store("prices", Prices)
pipe.local("lookup", lookup)
'''


def write_topology(directory: Path, pipe: str, prices: dict[str, int]) -> Path:
    path = directory / f"{pipe.replace('-', '_')}.py"
    path.write_text(TOPOLOGY.replace("PIPE_NAME", pipe))
    (directory / "prices.json").write_text(json.dumps(prices))
    return path


def store_contents(directory: Path, topology: Path, pipe: str) -> dict[str, dict[str, Any]]:
    """Every table of the rebuilt store, read from its directory (no log)."""
    module = _import_file(topology.resolve())
    reader = StoreReader(module.Prices(), app=pipe, data_dir=directory / ".slither-stores")
    try:
        return {name: dict(reader.table(name).items()) for name in ("items", "notes")}
    finally:
        reader.close()


@pytest.fixture
def pipe_name(unique_name: Callable[[str], str]) -> str:
    return unique_name("prices").replace("-", "_")


def test_replay_rebuilds_a_deleted_store(log_url: str, tmp_path: Path, pipe_name: str) -> None:
    topology = write_topology(tmp_path, pipe_name, {"apple": 3, "pear": 5, "fig": 9})
    module = _import_file(topology.resolve())
    with open_log(log_url) as log, StoreApp([module.Prices], log=log, app=pipe_name,
                                            data_dir=tmp_path / ".slither-stores") as stores:
        # load() ran on start
        items, notes = stores["prices"].table("items"), stores["prices"].table("notes")
        items.put("kiwi", 4)
        items.update("apple", lambda old: old * 10, 0)
        items.delete("pear")
        notes.bulk_insert([(f"n{i}", {"text": "x" * i}) for i in range(40)])
        notes.delete("n7")
    # changelog records: 3 loaded, put, update, delete, 40 bulk-inserted, delete (offsets
    # may be more: on Kafka, transaction markers take offsets too)
    written = 3 + 1 + 1 + 1 + 40 + 1
    before = store_contents(tmp_path, topology, pipe_name)
    assert before["items"] == {"apple": 30, "fig": 9, "kiwi": 4}
    assert len(before["notes"]) == 39

    store_dir = tmp_path / ".slither-stores" / pipe_name / "prices"
    shutil.rmtree(store_dir)
    result = slither("replay", f"{topology.name}:prices", "--log", log_url, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert f"replayed {written} records into store prices (app {pipe_name}) generation 1" \
        in result.stdout
    assert "tables: items=3, notes=39" in result.stdout
    assert store_contents(tmp_path, topology, pipe_name) == before

    # over an existing directory: a full rebuild into the next generation, same contents
    again = slither("replay", f"{topology}:Prices", "--log", log_url, cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert f"replayed {written} records" in again.stdout and "generation 2" in again.stdout
    assert store_contents(tmp_path, topology, pipe_name) == before


def test_replay_refuses_an_owned_store_and_a_missing_changelog(
        log_url: str, tmp_path: Path, pipe_name: str) -> None:
    topology = write_topology(tmp_path, pipe_name, {"apple": 1})
    missing = slither("replay", f"{topology.name}:prices", "--log", log_url, cwd=tmp_path)
    assert_one_line_error(missing, 2, f"{pipe_name}.prices.items.changelog", "nothing to replay")
    module = _import_file(topology.resolve())
    with open_log(log_url) as log, StoreApp([module.Prices], log=log, app=pipe_name,
                                            data_dir=tmp_path / ".slither-stores"):
        owned = slither("replay", f"{topology.name}:prices", "--log", log_url, cwd=tmp_path)
    assert_one_line_error(owned, 3, f"owned by process {os.getpid()}", "slither reload")
    unknown = slither("replay", f"{topology.name}:nope", "--log", log_url, cwd=tmp_path)
    assert_one_line_error(unknown, 2, "no store 'nope'", "prices")
    assert_one_line_error(slither("replay", "no-colon", "--log", log_url), 2, "FILE.py:NAME")


def test_reload_without_a_running_owner_reloads_locally(
        log_url: str, tmp_path: Path, pipe_name: str) -> None:
    topology = write_topology(tmp_path, pipe_name, {"apple": 1, "pear": 2})
    first = slither("reload", f"{topology.name}:prices", "--log", log_url, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "from load: generation 2" in first.stdout  # gen 1 is the empty start; load -> 2
    (tmp_path / "prices.json").write_text(json.dumps({"apple": 7, "plum": 3}))
    second = slither("reload", f"{topology.name}:prices", "--source", "load", "--log", log_url,
                     cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    assert "generation 3" in second.stdout and "tables: items=2, notes=0" in second.stdout
    assert store_contents(tmp_path, topology, pipe_name)["items"] == {"apple": 7, "plum": 3}
    # the load was published: a replay from the changelog alone gives the same contents
    shutil.rmtree(tmp_path / ".slither-stores")
    replay = slither("replay", f"{topology.name}:prices", "--log", log_url, cwd=tmp_path)
    assert replay.returncode == 0, replay.stderr
    assert store_contents(tmp_path, topology, pipe_name)["items"] == {"apple": 7, "plum": 3}


# -- with a running worker ------------------------------------------------------------


@pytest.fixture
def worker_factory(tmp_path: Path) -> Iterator[Callable[[Path, str], subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []

    def start(topology: Path, log_url: str) -> subprocess.Popen[bytes]:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        env.pop("SLITHER_DEBUG", None)
        output = (tmp_path / f"worker-{len(started)}.log").open("wb")
        process = subprocess.Popen([slither_executable(), "worker", topology.name,
                                    "--log", log_url], cwd=tmp_path, env=env,
                                   stdout=output, stderr=subprocess.STDOUT)
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def stop_worker(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 0


def lookup_price(log: Log, pipe: str, item: str, consumer: Any, timeout: float = 60.0) -> Any:
    """Send ``item`` through the running worker; return the price it looked up."""
    marker = f"{item}-{time.monotonic_ns()}"
    log.producer().send(f"{pipe}.lookup.in", orjson.dumps({"item": item, "marker": marker}))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for record in consumer.poll_batch(100, timeout=1.0):
            payload = orjson.loads(record.value)
            payload = payload.get("payload", payload)
            if payload.get("marker") == marker:
                return payload["price"]
    raise AssertionError(f"no output for {marker} within {timeout}s")


@pytest.mark.kafka
def test_reload_hot_swaps_into_a_running_worker(
        kafka_bootstrap: str, tmp_path: Path, unique_name: Callable[[str], str],
        worker_factory: Callable[[Path, str], subprocess.Popen[bytes]]) -> None:
    log_url = f"kafka://{kafka_bootstrap}"
    pipe = unique_name("live").replace("-", "_")
    topology = write_topology(tmp_path, pipe, {"apple": 1})
    worker = worker_factory(topology, log_url)
    with open_log(log_url) as log:
        deadline = time.monotonic() + 60
        while f"{pipe}.out.default" not in log.list_topics():
            assert worker.poll() is None, (tmp_path / "worker-0.log").read_text()
            assert time.monotonic() < deadline, "the worker did not create its topics"
            time.sleep(0.2)
        output = TopicPartition(f"{pipe}.out.default", 0)
        with log.consumer(f"{pipe}.test") as consumer:
            consumer.assign([(output, 0)])
            assert lookup_price(log, pipe, "apple", consumer) == 1

            (tmp_path / "prices.json").write_text(json.dumps({"apple": 2}))
            result = slither("reload", f"{topology.name}:prices", "--source", "load",
                             "--log", log_url, cwd=tmp_path, timeout=120)
            assert result.returncode == 0, result.stderr
            # generation 1 is the empty start, 2 the first load, 3 this reload; the
            # supervisor (the `slither worker` process) owns the store and answered
            assert "generation 3, by " in result.stdout
            assert f" pid {worker.pid} in " in result.stdout
            # worker processes read through StoreReaders, which follow the generation
            # pointer on their catch-up interval (1 s): the new price shows up soon
            deadline = time.monotonic() + 20
            prices = [lookup_price(log, pipe, "apple", consumer)]
            while prices[-1] != 2 and time.monotonic() < deadline:
                prices.append(lookup_price(log, pipe, "apple", consumer))
            assert prices[-1] == 2 and set(prices) <= {1, 2}, prices

            replayed = slither("reload", f"{topology.name}:prices", "--source", "changelog",
                               "--log", log_url, cwd=tmp_path, timeout=120)
            assert replayed.returncode == 0, replayed.stderr
            assert "from changelog: generation 4, by " in replayed.stdout
            assert lookup_price(log, pipe, "apple", consumer) == 2

            failed = slither("reload", f"{topology.name}:prices", "--via", "control",
                             "--app", f"{pipe}_nobody", "--timeout", "2", "--log", log_url,
                             cwd=tmp_path)
            assert_one_line_error(failed, 3, "no owner of store 'prices'", "within 2s")
    stop_worker(worker)


def test_reload_on_embedded_with_a_running_worker_says_why(
        tmp_path: Path, pipe_name: str,
        worker_factory: Callable[[Path, str], subprocess.Popen[bytes]]) -> None:
    log_url = f"embedded://{tmp_path / 'log'}"
    topology = write_topology(tmp_path, pipe_name, {"apple": 1})
    worker = worker_factory(topology, log_url)
    owner_lock = tmp_path / ".slither-stores" / pipe_name / "prices" / "OWNER.lock"
    deadline = time.monotonic() + 60
    while not (owner_lock.exists() and owner_lock.read_text().strip()):
        assert worker.poll() is None, (tmp_path / "worker-0.log").read_text()
        assert time.monotonic() < deadline, "the worker did not start its store"
        time.sleep(0.2)
    busy = slither("reload", f"{topology.name}:prices", "--log", log_url, cwd=tmp_path)
    assert_one_line_error(busy, 3, "embedded log", "stop the worker")
    stop_worker(worker)
    (tmp_path / "prices.json").write_text(json.dumps({"apple": 5}))
    done = slither("reload", f"{topology.name}:prices", "--log", log_url, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert store_contents(tmp_path, topology, pipe_name)["items"] == {"apple": 5}
