"""Hot reload on both backends: swaps, publishing load results, isolation, crashes."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from slither_stream import telemetry
from slither_stream.errors import StoreError
from slither_stream.store import StoreReader
from slither_stream.store.generations import list_generations, read_pointer
from tests.store.conftest import AppFactory
from tests.store.stores import Counters, Stamped

ROOT = Path(__file__).resolve().parents[2]


def test_reload_from_changelog_swaps_generation_and_retires_the_old_one(
    make_app: AppFactory, data_dir: Path, app_name: str
) -> None:
    store_dir = data_dir / app_name / "counters"
    with make_app([Counters]) as app:
        store = app["counters"]
        table = store.table("plain")
        table.bulk_insert((f"k{i}", i) for i in range(300))
        table.delete("k5")
        first = store.owner.current.number
        before = list(table.items())
        assert store.reload("changelog") == first + 1
        assert read_pointer(store_dir) == first + 1
        assert list(table.items()) == before
        table.put("after", True)
        assert table.get("after") is True
    assert list_generations(store_dir) == [first + 1]
    with make_app([Counters]) as app:
        assert app["counters"].table("plain").get("after") is True
        assert app["counters"].table("plain").size() == 300


def test_writes_during_a_changelog_reload_are_kept(make_app: AppFactory) -> None:
    with make_app([Counters]) as app:
        table = app["counters"].table("plain")
        table.bulk_insert((f"base{i}", i) for i in range(3_000))
        done = threading.Event()

        def write() -> None:
            for i in range(200):
                table.put(f"live{i}", i)
            done.set()

        writer = threading.Thread(target=write, name="live-writer")
        writer.start()
        app["counters"].reload("changelog")
        writer.join()
        assert done.is_set()
        assert table.size() == 3_200
        assert table.get_many([f"live{i}" for i in range(200)]) == list(range(200))


def test_reload_from_load_publishes_changes_and_tombstones(
    make_app: AppFactory, data_dir: Path
) -> None:
    store = Stamped(version=1, size=50)
    with make_app([store]) as app:
        items = app["stamped"].table("items")
        assert items.size() == 50  # the empty changelog was populated by load()
        store.version, store.dropped = 2, 10
        app.reload("stamped")
        assert items.size() == 40
        assert items.get(("item", 3)) is None
        assert items.get(("item", 30)) == {"version": 2, "i": 30}
    shutil.rmtree(data_dir)
    # A fresh host restores from the changelog alone (load is not called: the
    # changelog is not empty), and converges on the loaded contents.
    with make_app([Stamped(version=99, size=50)]) as app:
        restored = app["stamped"].table("items")
        assert [key for key, _ in restored.items()] == [("item", i) for i in range(10, 50)]
        assert {value["version"] for value in restored.values()} == {2}


def test_reload_emits_start_and_stop(make_app: AppFactory) -> None:
    events: list[tuple[tuple[str, ...], dict[str, Any]]] = []
    telemetry.attach_many("reload-test", [(*telemetry.STORE_RELOAD, "start"),
                                          (*telemetry.STORE_RELOAD, "stop")],
                          lambda event, measurements, meta: events.append((event, meta)))
    try:
        with make_app([Counters]) as app:
            generation = app.reload("counters", "changelog")
    finally:
        telemetry.detach("reload-test")
    assert [event[-1] for event, _ in events] == ["start", "stop"]
    assert events[-1][1] == {"store": "counters", "source": "changelog",
                             "generation": generation}


def test_failing_load_leaves_the_old_generation_serving(
    make_app: AppFactory, data_dir: Path, app_name: str
) -> None:
    class Broken(Stamped):
        fail = False

        def load(self, tables: Any) -> None:
            super().load(tables)
            if self.fail:
                raise RuntimeError("source database went away")

    store = Broken(size=20)
    store_dir = data_dir / app_name / "stamped"
    with make_app([store]) as app:
        live = read_pointer(store_dir)
        store.fail, store.version = True, 2
        with pytest.raises(RuntimeError, match="went away"):
            app.reload("stamped")
        assert live is not None
        assert read_pointer(store_dir) == live
        assert live + 1 not in list_generations(store_dir)  # the failed build is gone
        assert {v["version"] for v in app["stamped"].table("items").values()} == {1}
    assert list_generations(store_dir) == [live]


def test_readers_never_observe_a_mix_of_generations(make_app: AppFactory,
                                                     app_name: str, data_dir: Path) -> None:
    store = Stamped(version=1, size=300)
    keys = [("item", i) for i in range(300)]
    with make_app([store]) as app:
        items = app["stamped"].table("items")
        reader = StoreReader(Stamped, app=app_name, data_dir=data_dir, catch_up_interval=0.01)
        stop = threading.Event()
        mixed: list[Any] = []
        seen: set[int] = set()
        reads = [0]

        def observe(get_all: Any) -> None:
            while not stop.is_set():
                versions = {value["version"] for value in get_all()}
                reads[0] += 1
                if len(versions) != 1:
                    mixed.append(versions)
                seen.update(versions)

        observers = [
            threading.Thread(target=observe, args=(lambda: items.get_many(keys),),
                             name="observe-get-many"),
            threading.Thread(target=observe, args=(items.values,),
                             name="observe-scan"),
            threading.Thread(target=observe,
                             args=(lambda: reader.table("items").get_many(keys),),
                             name="observe-secondary"),
        ]
        try:
            for observer in observers:
                observer.start()
            for version in range(2, 7):
                store.version = version
                app.reload("stamped", "load" if version % 2 else "changelog")
        finally:
            stop.set()
            for observer in observers:
                observer.join()
            reader.close()
        assert mixed == []
        assert reads[0] > 10
        assert len(seen) >= 2  # the observers really ran across swaps


@pytest.mark.parametrize("mode", ["load", "publish"])
def test_killed_writer_mid_reload_leaves_the_old_generation_serving(
    log_url: str, app_name: str, data_dir: Path, make_app: AppFactory, mode: str
) -> None:
    """Killed while ``load`` runs, or after publishing every changed record but
    before the changelog transaction commits: readers keep the old generation, and
    after a restart (a fresh restore, even) the store is still entirely version 1."""
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.store.child_writer", log_url, app_name, str(data_dir),
         mode],
        cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    assert child.stdin is not None and child.stdout is not None
    store_dir = data_dir / app_name / "stamped"
    try:
        assert child.stdout.readline().strip() == "ready"
        live = read_pointer(store_dir)
        reader = StoreReader(Stamped, app=app_name, data_dir=data_dir, catch_up_interval=None)
        child.stdin.write("go\n")
        child.stdin.flush()
        assert child.stdout.readline().strip() == {"load": "loading",
                                                   "publish": "publishing"}[mode]
        assert live is not None
        assert live + 1 in list_generations(store_dir)  # the new one is half built
        child.send_signal(signal.SIGKILL)
        assert child.wait(timeout=30) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    try:
        assert reader.catch_up() == live
        versions = {value["version"] for value in reader.table("items").values()}
        assert versions == {1}
        assert reader.table("items").get(("item", 0)) == {"version": 1, "i": 0}
    finally:
        reader.close()
    with make_app([Stamped(version=3)]) as app:
        assert read_pointer(store_dir) == live
        assert list_generations(store_dir) == [live]  # the half-built one is gone
        assert {v["version"] for v in app["stamped"].table("items").values()} == {1}
    shutil.rmtree(data_dir)  # a fresh host: only the changelog decides
    with make_app([Stamped(version=3)]) as app:
        items = app["stamped"].table("items")
        assert items.size() == 200
        assert {v["version"] for v in items.values()} == {1}


def test_reload_of_a_store_without_load_needs_the_changelog(make_app: AppFactory) -> None:
    with make_app([Counters]) as app, pytest.raises(StoreError, match="has no load"):
        app.reload("counters", "load")
