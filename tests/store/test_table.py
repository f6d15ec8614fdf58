"""Table reads and writes on both log backends: API, errors, durability, restore."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path
from typing import Any

import pytest

from slither_stream import telemetry
from slither_stream.errors import ConfigError, KeyNotFoundError, StoreError
from slither_stream.log import open_log
from slither_stream.store import RestoreOptions, RestoreProgress, StoreOwner, changelog_topic
from slither_stream.store.recovery import STORE_RESTORE_PROGRESS
from tests.store.conftest import AppFactory
from tests.store.stores import Counters, Partitioned


def test_reads_and_writes(make_app: AppFactory) -> None:
    with make_app([Counters]) as app:
        plain = app["counters"].table("plain")
        plain.put("a", {"n": 1})
        plain.put(("user", 7), [1, 2])
        plain["b"] = "text"
        assert plain.get("a") == {"n": 1}
        assert plain[("user", 7)] == [1, 2]
        assert plain.get("missing") is None
        assert plain.get("missing", 0) == 0
        assert plain.get_many(["a", "missing", "b"]) == [{"n": 1}, None, "text"]
        assert "a" in plain and "missing" not in plain
        with pytest.raises(KeyNotFoundError) as caught:
            plain.get_strict("missing")
        assert str(caught.value) == "key 'missing' not found in table counters.plain"
        plain.delete("b")
        plain.delete("never-there")
        assert plain.get("b") is None
        assert plain.size() == len(plain) == 2
        assert set(plain) == {"a", ("user", 7)}

        ordered = app["counters"].table("ordered")
        ordered.bulk_insert({("day", d): d * 10 for d in (5, 1, 3, 2, 4)})
        ordered.bulk_insert([("day_total", 150), ("night", 0)])
        # str keys (tag 0x07) sort before tuples (0x10); tuples sort element-wise.
        assert list(ordered.keys()) == ["day_total", "night",
                                        *[("day", d) for d in range(1, 6)]]
        assert ordered.select(("day", 2), ("day", 4)) == [(("day", 2), 20), (("day", 3), 30)]
        assert ordered.select(("day", 2), ("day", 5), reverse=True, limit=2) == [
            (("day", 4), 40), (("day", 3), 30)]
        assert ordered.select(predicate=lambda k, v: v == 0) == [("night", 0)]
        assert ordered.match(("day",)) == [(("day", d), d * 10) for d in range(1, 6)]
        assert ordered.match("day") == [("day_total", 150)]
        assert ordered.fold(lambda k, v, acc: acc + v, 0) == 300
        with pytest.raises(StoreError, match="key ranges need an ordered_set"):
            plain.select("a", "z")
        assert plain.select(predicate=lambda k, v: isinstance(v, list)) == [(("user", 7), [1, 2])]


def test_bad_keys_and_values_are_clear_errors_and_write_nothing(
    make_app: AppFactory, log_url: str, app_name: str
) -> None:
    with make_app([Counters]) as app:
        plain = app["counters"].table("plain")
        with pytest.raises(StoreError, match=r"bad key \{1\} for table counters.plain: "
                                             "unsupported key type set"):
            plain.put({1}, 1)
        with pytest.raises(StoreError, match=r"bad value for key .k. in table counters.plain: "
                                             "object cannot be encoded"):
            plain.put("k", object())
        with pytest.raises(StoreError, match="bool keys are not supported"):
            plain.get(True)
        with pytest.raises(StoreError, match=r"takes \(key, value\) pairs"):
            plain.bulk_insert([("ok", 1), "oops"])  # type: ignore[list-item]
        with pytest.raises(StoreError, match="bad value for key 'b'"):
            plain.bulk_insert([("a", 1), ("b", {1, 2})])
        with pytest.raises(StoreError, match="has no table 'nope'; tables: plain, ordered"):
            app["counters"].table("nope")
        assert plain.size() == 0
        topic = changelog_topic(app_name, "counters", "plain")
        log = app.log
        assert sum(log.end_offsets(log.partitions_of(topic)).values()) == 0


def test_writes_survive_restart(make_app: AppFactory) -> None:
    with make_app([Counters]) as app:
        table = app["counters"].table("plain")
        table.bulk_insert((f"k{i}", i) for i in range(500))
        table.put("k1", "changed")
        table.delete("k2")
    with make_app([Counters]) as app:
        table = app["counters"].table("plain")
        assert table.size() == 499
        assert table.get("k1") == "changed"
        assert table.get("k2") is None
        assert table.get("k499") == 499


def test_restore_after_deleting_rocksdb_dir_rebuilds_identical_contents(
    make_app: AppFactory, data_dir: Path
) -> None:
    with make_app([Counters]) as app:
        plain = app["counters"].table("plain")
        ordered = app["counters"].table("ordered")
        plain.bulk_insert((f"k{i}", {"i": i}) for i in range(2_000))
        for i in range(0, 2_000, 7):
            plain.delete(f"k{i}")
        for i in range(0, 2_000, 11):
            plain.put(f"k{i}", "overwritten")
        ordered.bulk_insert(((i % 13, f"x{i}"), i) for i in range(1_000))
        before = {"plain": list(plain.items()), "ordered": list(ordered.items())}
    shutil.rmtree(data_dir)
    progress: list[RestoreProgress] = []
    events: list[dict[str, float]] = []
    options = RestoreOptions(on_progress=progress.append, progress_interval=0.0)
    telemetry.attach("restore-test", STORE_RESTORE_PROGRESS,
                     lambda event, measurements, meta: events.append(measurements))
    try:
        with make_app([Counters], restore=options) as app:
            after = {name: list(app["counters"].table(name).items()) for name in before}
    finally:
        telemetry.detach("restore-test")
    assert after == before
    assert events and events[-1]["records"] == progress[-1].records
    assert progress[-1].done
    assert progress[-1].records >= 2_000 + 1_000
    assert progress[-1].rate > 0


def test_concurrent_updates_lose_no_increments(make_app: AppFactory) -> None:
    threads, rounds = 4, 30
    with make_app([Counters]) as app:
        table = app["counters"].table("plain")
        errors: list[BaseException] = []

        def bump() -> None:
            try:
                for _ in range(rounds):
                    table.update("hits", lambda n: n + 1, default=0)
            except BaseException as error:
                errors.append(error)

        workers = [threading.Thread(target=bump, name=f"bump-{i}") for i in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        assert errors == []
        assert table.get("hits") == threads * rounds
    with make_app([Counters]) as app:
        assert app["counters"].table("plain").get("hits") == threads * rounds


def test_write_telemetry_counts_records(make_app: AppFactory) -> None:
    seen: list[tuple[dict[str, float], dict[str, Any]]] = []
    telemetry.attach("store-test", telemetry.STORE_WRITE,
                     lambda event, measurements, meta: seen.append((measurements, meta)))
    try:
        with make_app([Counters]) as app:
            table = app["counters"].table("ordered")
            table.put("a", 1)
            table.bulk_insert([("b", 2), ("c", 3)])
    finally:
        telemetry.detach("store-test")
    assert seen == [({"count": 1}, {"store": "counters", "table": "ordered"}),
                    ({"count": 2}, {"store": "counters", "table": "ordered"})]


def test_second_owner_of_a_store_is_refused(make_app: AppFactory, log_url: str,
                                           app_name: str, data_dir: Path) -> None:
    with make_app([Counters]) as app:
        intruder = StoreOwner(Counters(), app.log, app=app_name, data_dir=data_dir)
        with pytest.raises(StoreError, match="already owned by another process"):
            intruder.start()
        assert app["counters"].table("plain").size() == 0


def test_changelog_partitions_mismatch_is_a_config_error(log_url: str, app_name: str,
                                                         data_dir: Path) -> None:
    log = open_log(log_url)
    try:
        log.create_topic(changelog_topic(app_name, "counters", "plain"), 3, compacted=True)
        owner = StoreOwner(Counters(), log, app=app_name, data_dir=data_dir)
        with pytest.raises(ConfigError, match=r"has 3 partitions but table counters.plain "
                                             "declares 1"):
            owner.start()
    finally:
        log.close()


def test_multi_partition_changelog_checkpoints_every_partition(
    make_app: AppFactory, data_dir: Path, app_name: str
) -> None:
    with make_app([Partitioned]) as app:
        table = app["partitioned"].table("p")
        table.bulk_insert((f"k{i}", i) for i in range(300))
        table.delete("k7")
        owner = app["partitioned"].owner
        topic = changelog_topic(app_name, "partitioned", "p")
        partitions = app.log.partitions_of(topic)
        ends = app.log.end_offsets(partitions)
        assert sum(1 for end in ends.values() if end > 0) == 3  # keys spread over all
        checkpoints = owner.current.checkpoints(partitions)
        # Each checkpoint is "last record + 1"; a transaction's commit marker may
        # follow the last record (Kafka), so the end can be one further.
        assert all(ends[tp] - 1 <= (checkpoints[tp] or -9) <= ends[tp] for tp in partitions)
        before = list(table.items())
    shutil.rmtree(data_dir)
    with make_app([Partitioned]) as app:
        assert list(app["partitioned"].table("p").items()) == before
        assert len(before) == 299
