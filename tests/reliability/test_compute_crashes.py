"""Compute crashes: the compute function segfaults on 1% of batches and hangs on 1%.

A compute stage on a supervised process pool (batch timeout for hangs) retries
failed items, then routes them to its dead-letter topic; a later local stage skips
poison items. The pool replaces dead workers, the pipe finishes, and every input is
accounted for exactly once: outputs + DLQ + skipped = inputs.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

import orjson
import pytest

from slither_stream.item import Item
from slither_stream.log import Record, open_log
from slither_stream.pipe import Pipe
from slither_stream.pipe.deploy.runner import ensure_topics
from slither_stream.pipe.engine.dlq import DeadLetter
from tests.reliability.helpers import (
    Figures,
    backend_of,
    distinct_numbers,
    follow_until,
    numbers,
    produce_items,
    read_all,
    scaled,
    tree_peak_rss,
)
from tests.reliability.inprocess import running_worker

pytestmark = pytest.mark.reliability

DOOM_EVERY = 500
POISON_EVERY = 97


def judge(item: Item, ctx: Any) -> Any:
    if item.payload.get("poison"):
        raise ValueError(f"poison record {item.payload['n']}")
    return item.payload


def compute_pipe(name: str) -> Pipe:
    pipe = Pipe(name, partitions=2)
    pipe.compute("crunch", "tests.reliability.compute_funcs:flaky_crunch", batch_size=10,
                 max_in_flight=2, executor="processes", processes=2, timeout=1.5)
    pipe.local("judge", judge, batch_size=50)
    pipe.on_error("crunch", "retry", max_attempts=3, then="dead_letter")
    pipe.on_error("judge", "skip")
    return pipe


def test_segfaults_and_hangs_are_accounted_for(log_url: str,
                                               unique_name: Callable[[str], str]) -> None:
    backend = backend_of(log_url)
    definition = compute_pipe("rel-compute").compile().with_namespace(
        unique_name("rel-compute"))
    total = scaled(200_000, minimum=2000)
    payloads = [{"n": n, "key": f"k{n % 32}", "doom": n % DOOM_EVERY == DOOM_EVERY // 2,
                 "poison": n % POISON_EVERY == 5} for n in range(total)]
    doomed = {p["n"] for p in payloads if p["doom"]}
    poisoned = {p["n"] for p in payloads if p["poison"]} - doomed
    output = definition.output_topic("default")
    dlq = definition.stage("crunch").dlq_topic
    figures = Figures("compute_crashes", backend, records_in=total)

    started = time.monotonic()
    with open_log(log_url) as log:
        ensure_topics(log, definition)
        produce_items(log, definition.input_topic, payloads)
        with running_worker(log, definition, "compute") as worker:
            seen = distinct_numbers()

            def complete(records: list[Record]) -> bool:
                skipped = sum(r.stats.skipped for r in worker.runtimes if r.name == "judge")
                return seen(records) + skipped >= total

            follow_until(log, [output, dlq], complete, timeout=240)
            for mib in tree_peak_rss(os.getpid()).values():
                figures.note_rss(mib)
            judge_stats = next(r.stats for r in worker.runtimes if r.name == "judge")
            crunch = next(r for r in worker.runtimes if r.name == "crunch")
            crunch_stats = crunch.stats
            # the pool's own count of replaced (crashed or hung) compute workers
            figures.restarts = int(crunch._processor.executor.restarts)  # type: ignore[union-attr]
        outputs = read_all(log, output)
        letters = [DeadLetter.from_record(r) for r in read_all(log, dlq)]
    figures.extra["seconds"] = round(time.monotonic() - started, 1)

    out_counts = numbers(outputs)
    dlq_counts = numbers(_as_records(letters))
    figures.records_out = len(outputs)
    figures.dlq = len(letters)
    figures.skipped = judge_stats.skipped
    figures.duplicates = sum(c - 1 for c in (out_counts + dlq_counts).values() if c > 1)
    figures.extra["doomed"] = len(doomed)
    figures.extra["innocent_dlq"] = len(set(dlq_counts) - doomed)
    figures.extra["crunch_consumed"] = crunch_stats.consumed
    figures.report()

    assert figures.duplicates == 0
    assert figures.restarts >= len(doomed) * 3, "each doom attempt kills a compute worker"
    assert not set(out_counts) & set(dlq_counts)
    assert not set(out_counts) & poisoned, "a poison record passed the judge"
    skipped = set(range(total)) - set(out_counts) - set(dlq_counts)
    assert skipped <= poisoned, f"lost, neither output, DLQ nor skipped: {skipped - poisoned}"
    assert figures.records_out + figures.dlq + figures.skipped == total
    assert judge_stats.skipped == len(skipped)
    assert doomed <= set(dlq_counts), "a segfaulting batch's doom item must be routed"
    assert all(letter.stage == "crunch" and letter.attempts == 3 for letter in letters)
    assert all(letter.error_type and letter.message for letter in letters)
    squares = [orjson.loads(r.value or b"null") for r in outputs]
    assert all(p["square"] == p["n"] * p["n"] for p in squares)


def _as_records(letters: list[DeadLetter]) -> list[Record]:
    """Dead letters as records carrying their original values (for ``numbers``)."""
    return [Record(topic=letter.topic, partition=letter.partition, offset=letter.offset,
                   key=letter.key, value=letter.value) for letter in letters]
