"""Worker crashes: SIGKILL a random ``slither worker`` process 10 times mid-run.

A 3-stage pipe over keyed records with per-key sequence numbers. The supervisor
restarts every killed process; after the kills the supervisor is stopped (SIGTERM:
the workers drain) and an in-process worker finishes what is left. At-least-once:
every input is in the output (duplicates counted). Exactly-once: every input exactly
once, and each key's sequence numbers strictly increase along its partition.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable

import pytest

from slither_stream.log import open_log
from slither_stream.pipe.deploy.runner import ensure_topics
from slither_stream.pipe.deploy.worker_process import WorkerSpec
from tests.reliability import topology
from tests.reliability.helpers import (
    ROOT,
    Figures,
    PacedProducer,
    SupervisedWorkers,
    all_numbers_seen,
    backend_of,
    duplicates_of,
    keyed_payloads,
    numbers,
    per_key_order_violations,
    produce_items,
    read_all,
    scale,
    scaled,
    supervised,
)
from tests.reliability.inprocess import finish

pytestmark = pytest.mark.reliability

KILLS = 10
TOPOLOGY = "tests/reliability/topology.py"


@pytest.mark.parametrize("delivery", ["at_least_once", "exactly_once"])
def test_sigkill_random_workers_ten_times(log_url: str, unique_name: Callable[[str], str],
                                          delivery: str) -> None:
    backend = backend_of(log_url)
    attribute = "at_least_once" if delivery == "at_least_once" else "exactly_once"
    pipe = getattr(topology, attribute)
    namespace = unique_name(pipe.name)
    definition = pipe.compile().with_namespace(namespace)
    output = definition.output_topic("default")
    total = scaled(200_000, minimum=1500)
    payloads = keyed_payloads(total, keys=64)
    kafka = backend == "kafka"
    processes = 2 if kafka else 1  # the embedded log is opened by one process
    figures = Figures(f"worker_crashes/{delivery}", backend, records_in=total)
    rng = random.Random(8)

    with open_log(log_url) as log:
        ensure_topics(log, definition)
        if not kafka:  # the worker process owns the embedded log while it runs
            produce_items(log, definition.input_topic, payloads)

    # Kafka: spread the input over time, so kills land while input arrives.
    producer = PacedProducer(log_url, definition.input_topic, payloads,
                             seconds=max(20.0, 60.0 * scale()))
    started = time.monotonic()
    # A killed member's partitions wait for its session timeout: 3 s (heartbeats
    # every 1 s) instead of slither's 10 s default, set through the log URL (the
    # test broker allows down to 0.5 s: docker/kafka-test.properties).
    worker_url = (f"{log_url}?session.timeout.ms=3000&heartbeat.interval.ms=1000" if kafka
                  else log_url)
    with supervised(worker_url, f"{TOPOLOGY}:{attribute}", namespace,
                    processes=processes) as workers:
        workers.wait_for_slots(processes)
        if kafka:
            producer.start()
        try:
            for kill in range(1, KILLS + 1):
                # kill k lands once k/12 of the records went through: every kill
                # hits a running stream (on Kafka a dead member's partitions wait
                # for its 3 s session timeout, so this phase takes a while there)
                target = kill * total // (KILLS + 2)
                workers.wait(f"{target} records emitted", _progress_at_least(workers, target),
                             timeout=180)
                workers.kill_random_slot(rng)
                figures.restarts += 1
        except BaseException:
            producer.stop()
            raise
        producer.finish()
        assert workers.stop() == 0, "".join(workers.tail[-20:])
        figures.extra["emitted_before_stop"] = workers.progress
        for mib in workers.peak_rss.values():
            figures.note_rss(mib)

    figures.extra["kill_phase_s"] = round(time.monotonic() - started, 1)
    started = time.monotonic()
    with open_log(log_url) as log:
        finish(log, definition, all_numbers_seen(total), outputs=[output],
               members=tuple(_worker_spec(worker_url).member(slot)
                             for slot in range(processes)))
        records = read_all(log, output)
    figures.extra["finish_s"] = round(time.monotonic() - started, 1)
    counts = numbers(records)
    figures.records_out = len(records)
    figures.duplicates = duplicates_of(counts)
    figures.report()
    assert figures.restarts == KILLS
    assert figures.extra["emitted_before_stop"] >= total // 2, \
        "the killed workers must do most of the work, not the finisher"
    missing = set(range(total)) - set(counts)
    assert not missing, f"{len(missing)} inputs lost, e.g. {sorted(missing)[:10]}"
    assert set(counts) == set(range(total))
    if delivery == "exactly_once":
        assert figures.duplicates == 0, \
            f"duplicates under exactly_once: {[n for n, c in counts.items() if c > 1][:10]}"
        violations = per_key_order_violations(records)
        assert not violations, violations[:10]


def _worker_spec(log_url: str) -> WorkerSpec:
    """The spec of the test's ``slither worker`` (default store dir, run in the
    repository): its member ids are those of the worker processes the test killed."""
    return WorkerSpec(topology=TOPOLOGY, log_url=log_url, cwd=str(ROOT))


def _progress_at_least(workers: SupervisedWorkers, target: int) -> Callable[[], bool]:
    return lambda: workers.progress >= target
