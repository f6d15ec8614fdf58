"""Slow consumer: a compute stage ~100x slower than the stage feeding it, for a
bounded time (60 s at full scale).

Lag backpressure must pause the fast stage while the slow stage's lag is over
``max_lag``, so the backlog waits on the log (upstream) instead of piling up in
memory: the slow stage's lag never exceeds the bound by more than one poll, the
RSS of every process stays under an asserted bound, and after a clean stop every
input is accounted for: outputs + lag of each stage = inputs.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from slither_stream import telemetry
from slither_stream.item import Item
from slither_stream.log import open_log
from slither_stream.pipe import Pipe
from slither_stream.pipe.deploy.runner import ensure_topics
from slither_stream.pipe.engine.backpressure import BACKPRESSURE
from slither_stream.pipe.engine.loop import StageLoop
from tests.reliability.helpers import (
    Figures,
    backend_of,
    produce_items,
    read_all,
    scale,
    scaled,
    tree_peak_rss,
)

pytestmark = pytest.mark.reliability

MAX_LAG = 200
FAST_BATCH = 100
SLOW_MS_PER_ITEM = 10
PADDING = "p" * 1024
WORKER_RSS_BOUND_MIB = 250.0
GROWTH_BOUND_MIB = 64.0


def fast(item: Item, ctx: Any) -> Any:
    return {**item.payload, "fast": True}


def slow_pipe(name: str) -> Pipe:
    pipe = Pipe(name, partitions=2, max_lag=MAX_LAG, resume_lag=MAX_LAG // 2)
    pipe.local("fast", fast, batch_size=FAST_BATCH)
    pipe.compute("slow", "tests.reliability.compute_funcs:slow_identity", batch_size=10,
                 max_in_flight=2, executor="processes", processes=1)
    return pipe


def current_rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS in /proc/self/status")


def test_lag_backpressure_bounds_memory_under_a_slow_stage(
        log_url: str, unique_name: Callable[[str], str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLITHER_RELIABILITY_SLOW_MS", str(SLOW_MS_PER_ITEM))
    definition = slow_pipe("rel-slow").compile().with_namespace(unique_name("rel-slow"))
    fast_plan, slow_plan = definition.stages
    output = definition.output_topic("default")
    total = scaled(200_000, minimum=20_000)
    seconds = max(10.0, 60.0 * scale())
    figures = Figures("slow_consumer", backend_of(log_url), records_in=total)
    pauses: list[float] = []
    resumes: list[float] = []

    def on_event(event: tuple[str, ...], measurements: dict[str, float],
                 meta: dict[str, Any]) -> None:
        if meta["downstream_group"] == slow_plan.group:
            (pauses if event[-1] == "pause" else resumes).append(measurements["lag"])

    rss = {"start": 0.0, "max": 0.0}

    def on_progress(_runtime: StageLoop) -> None:
        rss["max"] = max(rss["max"], current_rss_mib())

    with open_log(log_url) as log:
        ensure_topics(log, definition)
        payloads = ({"n": n, "key": f"k{n % 16}", "pad": PADDING} for n in range(total))
        produce_items(log, definition.input_topic, payloads)
        rss["start"] = rss["max"] = current_rss_mib()
        telemetry.attach_many("reliability-slow", [(*BACKPRESSURE, "pause"),
                                                   (*BACKPRESSURE, "resume")], on_event)
        runtimes = [StageLoop(log, definition, plan.name, lag_interval=0.0,
                                 on_progress=on_progress) for plan in definition.stages]
        threads = [threading.Thread(target=rt.run, name=f"reliability-slow-{rt.name}")
                   for rt in runtimes]
        for thread in threads:
            thread.start()
        try:
            threading.Event().wait(seconds)  # the bounded slow period
            for pid, mib in tree_peak_rss(os.getpid()).items():
                if pid != os.getpid():
                    assert mib < WORKER_RSS_BOUND_MIB, f"compute worker {pid}: {mib:.0f} MiB"
                figures.note_rss(mib)
        finally:
            telemetry.detach("reliability-slow")
            for runtime in runtimes:
                runtime.stop()
            for thread in threads:
                thread.join(timeout=120)
        assert not any(thread.is_alive() for thread in threads)
        outputs = read_all(log, output)
        fast_lag = log.total_lag(fast_plan.group, fast_plan.input_topic)
        slow_lag = log.total_lag(slow_plan.group, slow_plan.input_topic)

    fast_runtime, slow_runtime = runtimes
    gate = fast_runtime.gate
    assert gate is not None
    figures.records_out = len(outputs)
    figures.extra.update({
        "seconds": seconds, "fast_consumed": fast_runtime.stats.consumed,
        "slow_consumed": slow_runtime.stats.consumed, "pauses": gate.pauses,
        "max_downstream_lag": gate.max_seen_lag, "upstream_backlog": fast_lag,
        "rss_growth_mib": round(rss["max"] - rss["start"], 1)})
    figures.report()

    assert pauses and all(lag > MAX_LAG for lag in pauses), "the fast stage never paused"
    assert gate.max_seen_lag <= MAX_LAG + FAST_BATCH, "downstream lag overshot the bound"
    assert slow_lag <= MAX_LAG + FAST_BATCH
    assert fast_lag > total // 2, "the backlog must wait upstream, on the log"
    assert len(outputs) + slow_lag + fast_lag == total, "a record was lost or duplicated"
    assert rss["max"] - rss["start"] < GROWTH_BOUND_MIB, (
        f"stage process RSS grew {rss['max'] - rss['start']:.0f} MiB")
