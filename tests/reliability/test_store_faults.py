"""Store under faults: the owner is SIGKILLed while a write is being published.

The owner child kills itself after the first changelog chunk of a write was
produced (a failpoint in the child; the write spans several chunks). A write is all
or nothing: the changelog (read committed) holds none of the killed write. Then the
store is started again here, and it must equal a replay of its changelog. A reader
process checks, during the reloads, that every generation it reads holds one
version stamp: readers never see a half-loaded generation, before or after the crash.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
import pytest

from slither_stream.log import open_log
from slither_stream.store import StoreApp, changelog_topic
from slither_stream.store.reload import LOAD_BATCH
from slither_stream.store.writes import BULK_CHUNK
from tests.reliability.helpers import ROOT, Figures, backend_of, peak_rss_mib, read_all
from tests.reliability.stores import STORE, TABLE, Ledger

pytestmark = pytest.mark.reliability

KILL_AT = 4


def owner_child(mode: str, log_url: str, app: str, data_dir: Path,
                size: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.reliability.store_owner_child", mode, log_url, app,
         str(data_dir), str(size), str(KILL_AT)],
        cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True)


class ReaderChild:
    """The checking reader process, driven one command at a time."""

    def __init__(self, app: str, data_dir: Path) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.reliability.store_reader_child", app,
             str(data_dir)], cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            text=True)
        assert json.loads(self.read()) == {"ready": True}

    def read(self) -> str:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        assert line, f"reader exited with {self.process.wait()}"
        return line

    def ask(self, command: str) -> Any:
        assert self.process.stdin is not None
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()
        return json.loads(self.read())

    def close(self) -> float:
        rss = peak_rss_mib(self.process.pid)
        if self.process.poll() is None:
            assert self.process.stdin is not None
            self.process.stdin.write("quit\n")
            self.process.stdin.close()
            self.process.wait(timeout=60)
        return rss


@contextmanager
def reader_child(app: str, data_dir: Path) -> Iterator[ReaderChild]:
    reader = ReaderChild(app, data_dir)
    try:
        yield reader
    finally:
        if reader.process.poll() is None:
            reader.process.kill()
            reader.process.wait()


def run_owner_until_killed(mode: str, log_url: str, app: str, data_dir: Path, *, size: int,
                           on_ready: Callable[[], None] | None = None) -> tuple[list[str], float]:
    """Start the owner child, wait for its self-kill; its output lines and peak RSS."""
    child = owner_child(mode, log_url, app, data_dir, size)
    assert child.stdout is not None
    lines = []
    rss = 0.0
    for line in child.stdout:
        lines.append(line.strip())
        rss = max(rss, peak_rss_mib(child.pid))
        if line.strip() == "ready" and on_ready is not None:
            on_ready()
    code = child.wait(timeout=300)
    assert code == -9, f"the owner was not killed mid-write (exit {code}): {lines}"
    assert lines[0] == "ready" and "not killed" not in lines
    return lines, rss


def changelog_replay(log_url: str, app: str) -> tuple[dict[str, Any], Counter[int]]:
    """The table a replay of the changelog gives (last value per key), and how many
    changelog records carry each version stamp."""
    with open_log(log_url) as log:
        records = read_all(log, changelog_topic(app, STORE, TABLE), timeout=120)
    state: dict[str, Any] = {}
    stamps: Counter[int] = Counter()
    for record in records:  # one partition per key, in offset order
        key = (record.key or b"").decode()
        if record.value is None:
            state.pop(key, None)
            continue
        value = orjson.loads(record.value)
        state[key] = value
        stamps[value["version"]] += 1
    return state, stamps


def restarted_store(log_url: str, app: str, data_dir: Path, size: int) -> dict[str, Any]:
    with StoreApp([Ledger(size=size)], log=log_url, app=app, data_dir=data_dir) as started:
        return dict(started[STORE].table(TABLE).items())


def test_owner_killed_during_bulk_writes_restores_to_its_changelog(
        log_url: str, unique_name: Callable[[str], str], tmp_path: Path) -> None:
    app = unique_name("rel-store-bulk")
    data_dir = tmp_path / "stores"
    size = 2 * BULK_CHUNK + 1000  # one bulk write spans three changelog chunks
    figures = Figures("store_faults/bulk", backend_of(log_url))
    started = time.monotonic()
    lines, rss = run_owner_until_killed("bulk", log_url, app, data_dir, size=size)
    figures.note_rss(rss)
    restored = restarted_store(log_url, app, data_dir, size)
    replay, stamps = changelog_replay(log_url, app)
    figures.records_in = sum(stamps.values())
    figures.records_out = len(restored)
    figures.restarts = 1
    figures.extra.update({"size": size, "writes_done": len(lines) - 1,
                          "killed_write_in_changelog": stamps[KILL_AT],
                          "seconds": round(time.monotonic() - started, 1)})
    figures.report()
    assert stamps[KILL_AT] == 0, "part of the killed bulk write reached the changelog"
    assert len(restored) == len(replay) == size
    assert restored == replay, "after restart the store differs from its changelog"
    assert {value["version"] for value in restored.values()} == {KILL_AT - 1}


def test_owner_killed_during_reload_never_shows_half_a_generation(
        log_url: str, unique_name: Callable[[str], str], tmp_path: Path) -> None:
    app = unique_name("rel-store-reload")
    data_dir = tmp_path / "stores"
    size = 2 * LOAD_BATCH + 20_000  # a reload's differences span three changelog chunks
    figures = Figures("store_faults/reload", backend_of(log_url))
    started = time.monotonic()
    readers: list[ReaderChild] = []
    with reader_child_after_ready(app, data_dir, readers) as start_reader:
        lines, rss = run_owner_until_killed("reload", log_url, app, data_dir, size=size,
                                            on_ready=start_reader)
        figures.note_rss(rss)
        assert readers, "the reader never started"
        before = readers[0].ask("report")
        restored = restarted_store(log_url, app, data_dir, size)
        after_restart = readers[0].ask("check")
        figures.note_rss(readers[0].close())
    replay, stamps = changelog_replay(log_url, app)
    figures.records_in = sum(stamps.values())
    figures.records_out = len(restored)
    figures.restarts = 1
    figures.extra.update({"size": size, "reloads_done": len(lines) - 1,
                          "reader_checks": before["checks"],
                          "reader_generations": len(before["generations"]),
                          "killed_reload_in_changelog": stamps[KILL_AT],
                          "restored_versions": "/".join(map(str, after_restart["versions"])),
                          "seconds": round(time.monotonic() - started, 1)})
    figures.report()
    assert before["checks"] > 0 and len(before["generations"]) >= 2
    assert before["mixed_count"] == 0, f"a reader saw half a generation: {before['mixed']}"
    assert stamps[KILL_AT] == 0, "part of the killed reload reached the changelog"
    assert restored == replay, "after restart the store differs from its changelog"
    assert after_restart["versions"] == [KILL_AT - 1], (
        f"after the restart readers see versions {after_restart['versions']} in one "
        "generation: half of the killed reload")


@contextmanager
def reader_child_after_ready(app: str, data_dir: Path,
                             readers: list[ReaderChild]) -> Iterator[Callable[[], None]]:
    """A callback that starts the reader once the owner's first generation is live."""
    def start() -> None:
        readers.append(ReaderChild(app, data_dir))

    try:
        yield start
    finally:
        for reader in readers:
            if reader.process.poll() is None:
                reader.process.kill()
                reader.process.wait()


