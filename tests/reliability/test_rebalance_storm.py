"""Rebalance storm: group members join and leave every few seconds during a run.

Input is produced (paced) while stage workers are added and stopped at random,
between one and three at a time, each a member of every stage's consumer group, so
partitions move again and again. Afterwards every input is in the output;
under exactly_once none twice, and each key's sequence numbers stay in order.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable

import pytest

from slither_stream.log import Log, open_log
from slither_stream.pipe.definition import PipeDefinition
from slither_stream.pipe.deploy.runner import ensure_topics
from slither_stream.pipe.deploy.worker import Worker
from tests.reliability import topology
from tests.reliability.helpers import (
    Figures,
    PacedProducer,
    all_numbers_seen,
    backend_of,
    duplicates_of,
    follow_until,
    keyed_payloads,
    numbers,
    per_key_order_violations,
    read_all,
    scale,
    scaled,
    self_peak_rss_mib,
)

pytestmark = pytest.mark.reliability

MAX_MEMBERS = 3
CHANGES = 9


class Members:
    """The storm's live workers, each in a named thread; owns and stops them."""

    def __init__(self, log: Log, definition: PipeDefinition) -> None:
        self.log = log
        self.definition = definition
        self.live: list[tuple[Worker, threading.Thread]] = []
        self.errors: list[BaseException] = []
        self.joins = 0
        self.leaves = 0

    def add(self) -> None:
        member = f"m{self.joins}"
        worker = Worker(self.log, self.definition, member=member)

        def run() -> None:
            try:
                worker.run()
            except BaseException as error:  # reported by the test
                self.errors.append(error)

        thread = threading.Thread(target=run, name=f"reliability-storm-{member}")
        thread.start()
        self.live.append((worker, thread))
        self.joins += 1

    def remove(self, rng: random.Random) -> None:
        worker, thread = self.live.pop(rng.randrange(len(self.live)))
        worker.stop()
        thread.join(timeout=120)
        assert not thread.is_alive(), f"member {worker.member} did not leave"
        self.leaves += 1

    def stop_all(self) -> None:
        for worker, _ in self.live:
            worker.stop()
        for _, thread in self.live:
            thread.join(timeout=120)
        self.live.clear()


@pytest.mark.parametrize("delivery", ["at_least_once", "exactly_once"])
def test_members_join_and_leave_during_a_run(log_url: str, unique_name: Callable[[str], str],
                                            delivery: str) -> None:
    backend = backend_of(log_url)
    pipe = topology.at_least_once if delivery == "at_least_once" else topology.exactly_once
    definition = pipe.compile().with_namespace(unique_name(f"{pipe.name}-storm"))
    output = definition.output_topic("default")
    total = scaled(200_000, minimum=3000)
    payloads = keyed_payloads(total, keys=64)
    interval = 1.5 if backend == "embedded" else 3.0
    changes = max(CHANGES, round(60 * scale() / interval))
    storm_seconds = changes * interval  # input arrives during the whole storm
    figures = Figures(f"rebalance_storm/{delivery}", backend, records_in=total)
    rng = random.Random(7)
    with open_log(log_url) as log:
        ensure_topics(log, definition)
        # input arrives during the whole storm
        producer = PacedProducer(log, definition.input_topic, payloads, seconds=storm_seconds,
                                 name="reliability-storm-producer")
        members = Members(log, definition)
        started = time.monotonic()
        try:
            members.add()
            producer.start()
            for _ in range(changes):
                if members.errors:
                    break
                threading.Event().wait(interval)  # the storm's rhythm
                grow = len(members.live) < MAX_MEMBERS and (
                    len(members.live) == 1 or rng.random() < 0.5)
                if grow:
                    members.add()
                else:
                    members.remove(rng)
            producer.finish()
            if not members.live:
                members.add()
            follow_until(log, [output], all_numbers_seen(total), timeout=180)
        finally:
            producer.stop()
            members.stop_all()
        assert not members.errors, f"a member failed: {members.errors[0]!r}"
        records = read_all(log, output)

    counts = numbers(records)
    figures.records_out = len(records)
    figures.duplicates = duplicates_of(counts)
    figures.restarts = members.joins + members.leaves
    figures.note_rss(self_peak_rss_mib())
    figures.extra.update({"joins": members.joins, "leaves": members.leaves,
                          "seconds": round(time.monotonic() - started, 1)})
    figures.report()
    assert members.leaves >= 3 and members.joins >= 4, "the storm was too calm"
    assert set(counts) == set(range(total)), \
        f"lost: {sorted(set(range(total)) - set(counts))[:10]}"
    if delivery == "exactly_once":
        assert figures.duplicates == 0, [n for n, c in counts.items() if c > 1][:10]
        violations = per_key_order_violations(records)
        assert not violations, violations[:10]
