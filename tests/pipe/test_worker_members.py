"""Member ids of `slither worker` processes: one per (host, slot), kept across
restarts, so transactional ids fence a dead predecessor but never another host."""

from __future__ import annotations

from pathlib import Path

import pytest

from slither_stream.pipe.deploy.worker_process import WorkerSpec


def spec(cwd: Path, store_dir: str | None = None) -> WorkerSpec:
    return WorkerSpec(topology="t.py:pipe", log_url="kafka://broker:9092", cwd=str(cwd),
                      store_dir=store_dir)


def test_a_restarted_slot_keeps_its_member_id(tmp_path: Path) -> None:
    assert spec(tmp_path, "state").member(0) == spec(tmp_path, "state").member(0)
    # the same directory, named relative or absolute
    assert spec(tmp_path, "state").member(0) == spec(Path("/"), str(tmp_path / "state")
                                                      ).member(0)
    assert spec(tmp_path).member(1) == spec(tmp_path, ".slither-stores").member(1)


def test_slots_and_hosts_have_their_own_member_ids(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    here = spec(tmp_path, "a").member(0)
    assert here != spec(tmp_path, "a").member(1)
    assert here != spec(tmp_path, "b").member(0)  # another --store-dir on this machine
    monkeypatch.setattr("socket.gethostname", lambda: "another-machine")
    assert here != spec(tmp_path, "a").member(0)  # the same directory on another machine
