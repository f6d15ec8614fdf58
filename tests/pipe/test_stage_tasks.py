"""A stage's tasks follow the group while their state is restored: a partition
revoked before its restore began is dropped at once, without waiting for the
restore of another partition that the stage keeps (real embedded log, real RocksDB)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from slither_stream.context import Context
from slither_stream.item import Item
from slither_stream.log import Log, TopicPartition, open_log
from slither_stream.pipe import Pipe
from slither_stream.pipe.deploy.runner import ensure_topics
from slither_stream.pipe.engine import tasks as tasks_module
from slither_stream.pipe.engine.tasks import StageTasks
from slither_stream.store.partitioned.task_store import TaskStore


def count(item: Item, ctx: Context) -> Any:
    return item.payload


@pytest.fixture
def log(tmp_path: Path) -> Iterator[Log]:
    opened = open_log(f"embedded://{tmp_path / 'log'}")
    try:
        yield opened
    finally:
        opened.close()


def test_a_partition_revoked_before_its_restore_began_does_not_wait_for_another(
        log: Log, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    definition = Pipe("tasks", partitions=2).local("count", count, state=["totals"]).compile()
    ensure_topics(log, definition)
    plan = definition.stage("count")
    tasks = StageTasks(log, plan, namespace=definition.namespace, state_dir=tmp_path / "state")
    tasks.ensure_changelogs()
    first, second = (TopicPartition(plan.input_topic, p) for p in (0, 1))
    restoring_first = threading.Event()
    release_first = threading.Event()
    restore = tasks_module.restore_task

    def slow_first(log: Log, stage: str, partition: int, stores: Mapping[str, TaskStore],
                   **options: Any) -> int:
        if partition == 0:  # a long restore of a partition the stage keeps
            restoring_first.set()
            release_first.wait(30)
        return restore(log, stage, partition, stores, **options)

    monkeypatch.setattr(tasks_module, "restore_task", slow_first)
    consumer = log.consumer("tasks-test")
    try:
        consumer.assign([(first, 0), (second, 0)])
        tasks.assigned([first, second], consumer)  # partition 1 waits behind 0
        assert restoring_first.wait(10)
        revoke = threading.Thread(target=tasks.revoked, args=([second],),
                                  name="test-revoke")
        started = time.monotonic()
        revoke.start()
        revoke.join(5)
        waited = time.monotonic() - started
        release_first.set()
        revoke.join()
        assert waited < 5, ("revoking partition 1, whose restore had not begun, waited "
                            f"{waited:.1f} s for the restore of partition 0")
        deadline = time.monotonic() + 10
        while tasks.restoring:
            assert time.monotonic() < deadline, "partition 0 was never restored"
            tasks.collect(consumer, hold=False)
            time.sleep(0.05)
        assert set(tasks.stores) == {0}  # partition 1 was never opened
        TaskStore(tasks.directory / "totals" / "1", store="totals", partition=1).close()
    finally:
        release_first.set()
        tasks.close()
        consumer.close()
