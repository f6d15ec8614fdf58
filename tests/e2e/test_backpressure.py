"""Lag backpressure: a stage pauses while the next stage lags, resumes below the low
mark. Asserted from lag figures measured on the log, not from timing."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from slither_stream import telemetry
from slither_stream.item import Item
from slither_stream.log import Log
from slither_stream.pipe import Pipe
from slither_stream.pipe.deploy.runner import ensure_topics
from slither_stream.pipe.engine.backpressure import BACKPRESSURE
from slither_stream.pipe.engine.loop import StageLoop
from tests.e2e.helpers import wait_for_records
from tests.e2e.test_workers import produce

Names = Callable[[str], str]
MAX_LAG = 20
RESUME_LAG = 5
BATCH = 5


def passthrough(item: Item, ctx: Any) -> Any:
    return item.payload


def test_lag_backpressure_pauses_and_resumes(log: Log, unique_name: Names) -> None:
    namespace = unique_name("bp")
    pipe = Pipe("bp", partitions=1, max_lag=MAX_LAG, resume_lag=RESUME_LAG)
    pipe.local("first", passthrough, batch_size=BATCH)
    pipe.local("second", passthrough, batch_size=BATCH)
    definition = pipe.compile().with_namespace(namespace)
    ensure_topics(log, definition)
    total = 120
    produce(log, definition.input_topic, [{"n": n} for n in range(total)])
    first_plan, second_plan = definition.stages

    events: list[tuple[str, float]] = []
    paused, resumed = threading.Event(), threading.Event()
    idle_while_paused = threading.Semaphore(0)

    def on_event(event: tuple[str, ...], measurements: dict[str, float],
                 meta: dict[str, Any]) -> None:
        if meta["downstream_group"] != second_plan.group:
            return
        events.append((event[-1], measurements["lag"]))
        (paused if event[-1] == "pause" else resumed).set()

    telemetry.attach_many("test-bp", [(*BACKPRESSURE, "pause"), (*BACKPRESSURE, "resume")],
                          on_event)
    first = StageLoop(log, definition, "first", lag_interval=0.0,
                         on_progress=lambda rt: rt.gate is not None and rt.gate.closed
                         and idle_while_paused.release())
    second = StageLoop(log, definition, "second", lag_interval=0.0)
    threads = [threading.Thread(target=first.run, name="test-bp-first")]
    threads[0].start()
    try:
        assert paused.wait(60), "the first stage never paused"
        # let the paused stage go round its poll loop a few times: nothing moves
        for _ in range(5):
            assert idle_while_paused.acquire(timeout=30)
        lag_second = log.total_lag(second_plan.group, second_plan.input_topic)
        lag_first = log.total_lag(first_plan.group, first_plan.input_topic)
        for _ in range(5):
            assert idle_while_paused.acquire(timeout=30)
        assert log.total_lag(second_plan.group, second_plan.input_topic) == lag_second
        assert log.total_lag(first_plan.group, first_plan.input_topic) == lag_first
        assert MAX_LAG < lag_second <= MAX_LAG + BATCH  # paused just past the bound
        assert lag_first >= total - lag_second - BATCH > 0  # the backlog waits upstream

        threads.append(threading.Thread(target=second.run, name="test-bp-second"))
        threads[1].start()
        assert resumed.wait(60), "the first stage never resumed"
        wait_for_records(log, definition.output_topic("default"), total)
    finally:
        telemetry.detach("test-bp")
        first.stop()
        second.stop()
        for thread in threads:
            thread.join()
    assert first.gate is not None
    pauses = [lag for kind, lag in events if kind == "pause"]
    resumes = [lag for kind, lag in events if kind == "resume"]
    assert pauses and all(lag > MAX_LAG for lag in pauses)
    assert resumes and all(lag <= RESUME_LAG for lag in resumes)
    assert first.gate.max_seen_lag <= MAX_LAG + BATCH  # the bound held the whole run
    assert log.total_lag(second_plan.group, second_plan.input_topic) == 0
