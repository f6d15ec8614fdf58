"""Follow mode: owners on several hosts apply the changelog in log order and converge."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from slither_stream.errors import ConfigError
from slither_stream.log import Log
from slither_stream.store import StoreApp
from tests.store.conftest import AppFactory
from tests.store.stores import Counters, Stamped


def host(log: Log, app_name: str, root: Path, name: str) -> StoreApp:
    """One "host": its own RocksDB directory, the shared changelog."""
    return StoreApp([Counters], log=log, app=app_name, data_dir=root / name,
                    grace_period=0.05, follow=True)


def test_two_hosts_converge_on_the_changelog(log: Log, app_name: str, tmp_path: Path) -> None:
    with host(log, app_name, tmp_path, "a") as a, host(log, app_name, tmp_path, "b") as b:
        on_a = a["counters"].table("plain")
        on_b = b["counters"].table("plain")
        on_a.put("x", 1)
        on_b.put("y", 2)

        def write(table: object, prefix: str) -> None:
            for i in range(100):
                table.put(f"{prefix}{i}", i)  # type: ignore[attr-defined]

        writers = [threading.Thread(target=write, args=(on_a, "a"), name="host-a"),
                   threading.Thread(target=write, args=(on_b, "b"), name="host-b")]
        for writer in writers:
            writer.start()
        for writer in writers:
            writer.join()
        on_b.delete("x")
        on_a.bulk_insert([("z", [1]), ("y", "from a")])
        a["counters"].owner.sync()
        b["counters"].owner.sync()
        assert on_a.get("x") is None and on_a.get("y") == "from a"
        assert list(on_a.items()) == list(on_b.items())
        assert on_a.size() == 202

        b["counters"].reload("changelog")
        on_a.put("after-reload", True)
        b["counters"].owner.sync()
        assert on_b.get("after-reload") is True
        assert list(on_a.items()) == list(on_b.items())


def test_follow_mode_update_loses_no_increments(log: Log, app_name: str,
                                                tmp_path: Path) -> None:
    with host(log, app_name, tmp_path, "a") as a:
        table = a["counters"].table("plain")
        workers = [threading.Thread(
            target=lambda: [table.update("n", lambda v: v + 1, default=0) for _ in range(25)],
            name=f"bump-{i}") for i in range(3)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        assert table.get("n") == 75


def test_reload_from_load_on_one_host_converges_the_other(log: Log, app_name: str,
                                                          tmp_path: Path) -> None:
    first, second = Stamped(version=1, size=30), Stamped(version=1, size=30)
    with (StoreApp([first], log=log, app=app_name, data_dir=tmp_path / "a", follow=True) as a,
          StoreApp([second], log=log, app=app_name, data_dir=tmp_path / "b",
                   follow=True) as b):
        b["stamped"].owner.sync()
        assert b["stamped"].table("items").size() == 30
        first.version, first.dropped = 2, 5
        a.reload("stamped", "load")
        b["stamped"].owner.sync()
        items = b["stamped"].table("items")
        assert items.size() == 25
        assert {v["version"] for v in items.values()} == {2}


def test_sync_needs_follow_mode(make_app: AppFactory) -> None:
    with make_app([Counters]) as app, pytest.raises(ConfigError, match="needs follow=True"):
        app["counters"].owner.sync()
