"""The worker's garbage-collector settings: what they change, and that a Worker
applies them only when asked (they change the whole process)."""

from __future__ import annotations

import gc
import threading
import weakref
from collections.abc import Iterator
from pathlib import Path

import pytest

from slither_stream.log.embedded import EmbeddedLog
from slither_stream.pipe import Pipe
from slither_stream.pipe.deploy import gc_policy
from slither_stream.pipe.deploy.worker import Worker


@pytest.fixture(autouse=True)
def restore_collector() -> Iterator[None]:
    """Each test starts from CPython's defaults and leaves them as it found them."""
    saved = gc.get_threshold()
    gc.unfreeze()
    gc.set_threshold(700, 10, 10)
    yield
    gc.unfreeze()
    gc.set_threshold(*saved)


def test_tune_raises_the_young_threshold_and_freezes_what_is_alive() -> None:
    kept = [object() for _ in range(10)]
    gc_policy.tune_for_stages()
    assert gc.get_threshold() == (gc_policy.STAGE_GEN0_THRESHOLD, 10, 10)
    assert gc.get_freeze_count() > len(kept)


def test_tune_never_lowers_a_threshold_the_application_chose() -> None:
    gc.set_threshold(500_000, 5, 5)
    gc_policy.tune_for_stages()
    assert gc.get_threshold() == (500_000, 5, 5)


def test_tune_leaves_a_disabled_threshold_disabled() -> None:
    gc.set_threshold(0, 10, 10)
    gc_policy.tune_for_stages()
    assert gc.get_threshold()[0] == 0


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "100"])
def test_tune_refuses_a_bad_threshold(bad: object) -> None:
    with pytest.raises(ValueError, match="gen0_threshold must be a positive integer"):
        gc_policy.tune_for_stages(bad)  # type: ignore[arg-type]
    assert gc.get_threshold() == (700, 10, 10)


def test_freeze_collects_garbage_cycles_first() -> None:
    """A cycle frozen would never be freed: it must be collected before the freeze."""

    class Node:
        pass

    collected = threading.Event()
    node = Node()
    node.self = node  # type: ignore[attr-defined]
    weakref.finalize(node, collected.set)
    del node
    gc_policy.freeze_startup_objects()
    assert collected.is_set()


def _run_worker(tmp_path: Path, **options: bool) -> tuple[tuple[int, int, int], int]:
    """Start a one-stage Worker on an embedded log, read the collector settings once
    its stages run, stop it."""
    pipe = Pipe("gcp", partitions=1)
    pipe.local("s", lambda item, _ctx: item.payload)
    seen: list[tuple[tuple[int, int, int], int]] = []
    log = EmbeddedLog(tmp_path / "log")
    try:
        worker = Worker(log, pipe.compile(), store_dir=str(tmp_path / "stores"),
                        on_ready=lambda: seen.append((gc.get_threshold(),
                                                      gc.get_freeze_count())),
                        **options)
        thread = threading.Thread(target=worker.run)
        thread.start()
        try:
            for _ in range(200):
                if seen:
                    break
                threading.Event().wait(0.05)
        finally:
            worker.stop()
            thread.join(30)
        assert not thread.is_alive()
    finally:
        log.close()
    assert seen, "the worker never became ready"
    return seen[0]


def test_worker_tunes_the_collector_by_default(tmp_path: Path) -> None:
    threshold, frozen = _run_worker(tmp_path)
    assert threshold[0] == gc_policy.STAGE_GEN0_THRESHOLD
    assert frozen > 0


def test_worker_leaves_the_collector_alone_when_told(tmp_path: Path) -> None:
    threshold, frozen = _run_worker(tmp_path, tune_gc=False)
    assert threshold == (700, 10, 10)
    assert frozen == 0
