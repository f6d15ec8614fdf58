"""Standby replicas: a member following another's partitions takes one over with
only a short tail to restore (both backends: two stage members in one process, each
with its own state directory, as two hosts would have)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from slither_stream.log import Log, TopicPartition
from slither_stream.pipe.deploy.runner import ensure_topics
from slither_stream.pipe.engine.loop import StageLoop
from tests.e2e.helpers import read_topic
from tests.e2e.test_keyed_state import check_exact, outputs, produce, records, totals_pipe

Names = Callable[[str], str]


def wait_until(condition: Callable[[], bool], what: str | Callable[[], str],
               timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, \
            f"timed out waiting for {what() if callable(what) else what}"
        time.sleep(0.1)


@pytest.mark.parametrize("delivery", ["at_least_once", "exactly_once"])
def test_a_standby_takes_over_with_a_short_tail(log: Log, unique_name: Names,
                                                tmp_path: Path, delivery: str) -> None:
    name = unique_name("standby")
    pipe = totals_pipe(name, delivery, partitions=2)
    pipe.settings = type(pipe.settings)(**{**pipe.settings.__dict__, "standby_replicas": 1})
    definition = pipe.compile()
    ensure_topics(log, definition)
    stages = {host: StageLoop(log, definition, "total", member=host,
                              state_dir=tmp_path / host, poll_timeout=0.05)
              for host in ("a", "b")}
    threads = {host: threading.Thread(target=stage.run, name=f"test-stage-{host}")
               for host, stage in stages.items()}
    first = records(0, 3000, users=40)
    a, b = stages["a"], stages["b"]
    threads["a"].start()
    wait_until(lambda: len(a.tasks.stores) == 2, "a owning both partitions")  # type: ignore[union-attr]
    threads["b"].start()
    wait_until(lambda: len(a.tasks.stores) == 1 and len(b.tasks.stores) == 1,  # type: ignore[union-attr]
               "a and b owning one partition each")
    produce(log, definition, first)
    wait_until(lambda: a.stats.consumed + b.stats.consumed >= len(first), "the first records")
    theirs = next(iter(b.tasks.stores))  # type: ignore[union-attr]
    changelog = sum(1 for r in read_topic(log, f"{name}.total.totals.changelog")
                    if r.partition == theirs)
    standbys = a.tasks.standbys  # type: ignore[union-attr]
    assert standbys is not None
    changelog_tp = TopicPartition(f"{name}.total.totals.changelog", theirs)
    end = log.end_offsets([changelog_tp])[changelog_tp]

    def caught_up() -> bool:
        return theirs in standbys.following and standbys.applied > 0 and \
            standbys.positions().get(changelog_tp, -1) >= end

    wait_until(caught_up, lambda: f"a following b's partition {theirs} up to {end} "
                                  f"(following {standbys.following}, at "
                                  f"{standbys.positions()}, {standbys.applied} applied)")
    restored_before = a.tasks.restored_records  # type: ignore[union-attr]
    b.stop()
    threads["b"].join()
    wait_until(lambda: len(a.tasks.stores) == 2, "a taking b's partition over")  # type: ignore[union-attr]
    tail = a.tasks.restored_records - restored_before  # type: ignore[union-attr]
    assert tail < changelog, (tail, changelog)  # the standby had most of it
    second = records(3000, 500, users=40)
    produce(log, definition, second)
    wait_until(lambda: a.stats.consumed + b.stats.consumed >= len(first) + len(second),
               "the second records")
    a.stop()
    threads["a"].join()
    check_exact(outputs(log, definition), first + second)
