"""SIGKILL of a worker process between its state's changelog flush and the commit of
its input offsets, then a restart on the same local state (both backends).

at_least_once: the restarted worker reads the records since the last commit again,
so their keys are counted twice; what it keeps still agrees with what it wrote (the
state equals a replay of what was read). exactly_once: the killed transaction never
becomes visible (the restarted member's transactional id fences it), so outputs and
state are exact: no duplicate output, no write applied twice.
"""

from __future__ import annotations

import subprocess
import sys
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest

from slither_stream.item import Item
from slither_stream.log import open_log
from slither_stream.pipe.deploy.runner import ensure_topics
from slither_stream.pipe.engine.envelope import Envelope
from slither_stream.store import StoreApp
from tests.e2e import kill_child
from tests.e2e.helpers import read_topic

ROOT = Path(__file__).resolve().parents[2]
Names = Callable[[str], str]
RECORDS, USERS = 300, 6


def child(url: str, name: str, delivery: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tests.e2e.kill_child", url, name, delivery,
         str(tmp_path / "stores"), str(tmp_path / "killed")],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.parametrize("delivery", ["at_least_once", "exactly_once"])
def test_sigkill_between_flush_and_commit(log_url: str, unique_name: Names, tmp_path: Path,
                                          delivery: str) -> None:
    name = unique_name("killed")
    definition = kill_child.pipe(name, delivery).compile()
    users = [f"u{n % USERS}" for n in range(RECORDS)]
    with open_log(log_url) as log:
        ensure_topics(log, definition)
        envelope = Envelope()
        with log.producer() as producer:
            for user in users:
                key, value, headers = envelope.encode(Item.wrap({"user": user}, key=user))
                producer.produce(definition.input_topic, value, key, headers=headers)
            producer.flush()
    first = child(log_url, name, delivery, tmp_path)
    assert first.returncode == -9, first.stderr  # killed at the armed point
    assert (tmp_path / "killed").exists()
    second = child(log_url, name, delivery, tmp_path)
    assert second.returncode == 0, second.stderr

    expected = Counter(users)
    with open_log(log_url) as log:
        written: dict[str, list[int]] = defaultdict(list)
        for record in read_topic(log, definition.output_topic("default")):
            payload = orjson.loads(record.value or b"")
            written[payload["user"]].append(payload["n"])
        with StoreApp([kill_child.Totals], log=log, app=name,
                      data_dir=tmp_path / "stores") as app:  # the restarted worker's state
            table = app["totals"].table("by_user")
            kept = {user: table.get(user) for user in expected}
        with StoreApp([kill_child.Totals], log=log, app=name,
                      data_dir=tmp_path / "replica") as app:  # the changelog's
            table = app["totals"].table("by_user")
            replayed = {user: table.get(user) for user in expected}
    assert kept == replayed
    if delivery == "exactly_once":
        assert {user: sorted(ns) for user, ns in written.items()} == {
            user: list(range(1, total + 1)) for user, total in expected.items()}
        assert kept == dict(expected)
    else:
        assert sum(len(ns) for ns in written.values()) > RECORDS  # records read again
        for user, total in expected.items():
            assert set(range(1, total + 1)) <= set(written[user])
            assert kept[user] == max(written[user]) >= total
