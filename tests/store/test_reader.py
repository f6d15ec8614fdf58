"""StoreReader: a RocksDB secondary in another process follows writes and swaps."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from slither_stream.errors import StoreError
from slither_stream.store import StoreReader
from slither_stream.store.generations import (
    hold_for_reading,
    list_generations,
    read_pointer,
    try_delete_generation,
)
from tests.store.conftest import AppFactory
from tests.store.stores import Counters, Stamped

ROOT = Path(__file__).resolve().parents[2]


class Child:
    """A child_reader process and a line-based request/answer helper."""

    def __init__(self, app_name: str, data_dir: Path, store: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.store.child_reader", app_name, str(data_dir), store],
            cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )
        self.opened = self._answer()

    def _answer(self) -> Any:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        assert line, f"child reader exited with {self.process.wait()}"
        return json.loads(line)

    def ask(self, command: str) -> Any:
        assert self.process.stdin is not None
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()
        return self._answer()

    def close(self) -> None:
        if self.process.poll() is None:
            assert self.process.stdin is not None
            self.process.stdin.write("quit\n")
            self.process.stdin.flush()
            self.process.wait(timeout=30)


@pytest.fixture
def child_reader(app_name: str, data_dir: Path) -> Iterator[Any]:
    children: list[Child] = []

    def spawn(store: str) -> Child:
        child = Child(app_name, data_dir, store)
        children.append(child)
        return child

    yield spawn
    for child in children:
        child.close()


def test_reader_in_another_process_sees_writes_after_catch_up(
    make_app: AppFactory, child_reader: Any
) -> None:
    with make_app([Counters]) as app:
        table = app["counters"].table("plain")
        table.put("a", 1)
        child = child_reader("counters")
        assert child.ask('get plain "a"') == 1
        table.put("a", 2)
        table.put("b", {"deep": [1, 2]})
        assert child.ask("catch_up") == child.opened["generation"]
        assert child.ask('get plain "a"') == 2
        assert child.ask('get plain "b"') == {"deep": [1, 2]}
        table.delete("a")
        child.ask("catch_up")
        assert child.ask('get plain "a"') is None


def test_reader_follows_generation_swaps(make_app: AppFactory, child_reader: Any) -> None:
    store = Stamped(version=1, size=200)
    with make_app([store]) as app:
        child = child_reader("stamped")
        assert child.ask("versions items") == {"count": 200, "versions": [1]}
        store.version, store.dropped = 2, 50
        generation = app.reload("stamped")
        assert child.ask("versions items") == {"count": 200, "versions": [1]}
        assert child.ask("catch_up") == generation
        assert child.ask("versions items") == {"count": 150, "versions": [2]}
        app["stamped"].table("items").put(("item", 0), {"version": 2, "i": 0})
        child.ask("catch_up")
        assert child.ask('get items ["item", 0]') == {"version": 2, "i": 0}


def test_in_process_reader_with_interval_and_by_class(make_app: AppFactory, app_name: str,
                                                      data_dir: Path) -> None:
    with make_app([Counters]) as app:
        table = app["counters"].table("ordered")
        with StoreReader(Counters, app=app_name, data_dir=data_dir,
                         catch_up_interval=None) as reader:
            table.bulk_insert([(("k", i), i) for i in range(10)])
            reader.catch_up()
            mirror = reader.table("ordered")
            assert mirror.select(("k", 3), ("k", 6)) == [(("k", i), i) for i in (3, 4, 5)]
            assert mirror.size() == 10
            with pytest.raises(StoreError, match="has no table 'nope'"):
                reader.table("nope")
            assert not hasattr(mirror, "put")


def test_reader_of_a_store_never_started_is_a_clear_error(data_dir: Path) -> None:
    with pytest.raises(StoreError, match="has never been started"):
        StoreReader("ghost", app="nobody", data_dir=data_dir)


def test_a_held_generation_is_not_deleted(make_app: AppFactory, app_name: str,
                                          data_dir: Path) -> None:
    store_dir = data_dir / app_name / "counters"
    with make_app([Counters]) as app:
        live = read_pointer(store_dir)
        assert live is not None
        held = hold_for_reading(store_dir, live)
        assert held is not None
        try:
            assert not try_delete_generation(store_dir, live)
        finally:
            os.close(held)
        app["counters"].reload("changelog")
    assert list_generations(store_dir) == [live + 1]
