"""Broker restart: stop the Kafka broker mid-run and start it again.

This module runs its OWN broker (``docker/kafka-local`` on its own port and data
dir), so stopping it disturbs no other test. ``slither worker`` processes run the
3-stage pipe; a third of the way through, the broker is stopped (cleanly, or
SIGKILLed as in a crash), kept down for a few seconds, and started again on the same
port with its data. The workers must reconnect by themselves (none may exit) and finish with
nothing lost; under exactly_once nothing twice and per-key order kept.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from slither_stream.log import open_log
from slither_stream.pipe.deploy.runner import ensure_topics
from tests.kafka_broker import local_broker, start_local_broker, stop_local_broker
from tests.reliability import topology
from tests.reliability.helpers import (
    Figures,
    SupervisedWorkers,
    all_numbers_seen,
    duplicates_of,
    follow_until,
    keyed_payloads,
    numbers,
    per_key_order_violations,
    produce_items,
    read_all,
    scaled,
    supervised,
)

pytestmark = [pytest.mark.reliability, pytest.mark.kafka]

DOWNTIME_S = 5.0
TOPOLOGY = "tests/reliability/topology.py"


@pytest.fixture(scope="module")
def own_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """A broker of this module alone: (bootstrap, data dir); stopped at teardown.
    Each test leaves it running again after its outage, so the next test reuses it
    (one broker start less). It carries a few thousand records, so it starts with
    the quick C1-only JIT (see ``start_local_broker``)."""
    data = tmp_path_factory.mktemp("broker-restart") / "broker"
    with local_broker(data, fast_start=True, kill=True) as bootstrap:
        yield bootstrap, data


def _progress_at_least(workers: SupervisedWorkers, target: int) -> Callable[[], bool]:
    return lambda: workers.progress >= target


@pytest.mark.parametrize(("delivery", "how"), [
    ("at_least_once", "stop"),
    ("exactly_once", "kill"),
])
def test_workers_ride_out_a_broker_restart(own_broker: tuple[str, Path],
                                           unique_name: Callable[[str], str],
                                           delivery: str, how: str) -> None:
    bootstrap, data = own_broker
    log_url = f"kafka://{bootstrap}"
    attribute = "at_least_once" if delivery == "at_least_once" else "exactly_once"
    namespace = unique_name(f"rel-broker-{how}")
    definition = getattr(topology, attribute).compile().with_namespace(namespace)
    output = definition.output_topic("default")
    total = scaled(200_000, minimum=3000)
    payloads = keyed_payloads(total, keys=64)
    figures = Figures(f"broker_restart/{delivery}/{how}", "kafka", records_in=total)
    with open_log(log_url) as log:
        ensure_topics(log, definition)
        produce_items(log, definition.input_topic, payloads)
    port = int(bootstrap.rsplit(":", 1)[1])

    started = time.monotonic()
    with supervised(log_url, f"{TOPOLOGY}:{attribute}", namespace,
                    processes=2, extra_env={"SLITHER_RELIABILITY_WORK_MS": "2"}) as workers:
        workers.wait_for_slots(2)
        workers.wait("a third of the records emitted", _progress_at_least(workers, total // 3),
                     timeout=180)
        workers.sample_rss()
        stop_local_broker(data, kill=how == "kill")
        down_at = workers.progress
        threading.Event().wait(DOWNTIME_S)  # the outage itself
        assert start_local_broker(data, port=port, fast_start=True) == bootstrap
        figures.extra["emitted_while_down"] = workers.progress - down_at
        try:
            with open_log(log_url) as log:
                follow_until(log, [output], all_numbers_seen(total), timeout=90)
        except AssertionError as error:
            raise AssertionError(f"{error}; supervisor said:\n"
                                 + "".join(workers.supervisor_lines) + "last lines:\n"
                                 + "".join(workers.tail[-30:])) from None
        figures.restarts = workers.started - 2
        assert workers.process.poll() is None, "the supervisor gave up during the outage"
        assert workers.stop() == 0
        for mib in workers.peak_rss.values():
            figures.note_rss(mib)
    with open_log(log_url) as log:
        records = read_all(log, output)
    counts = numbers(records)
    figures.records_out = len(records)
    figures.duplicates = duplicates_of(counts)
    figures.extra["seconds"] = round(time.monotonic() - started, 1)
    figures.report()
    assert figures.restarts == 0, "a worker process died instead of reconnecting:\n" + \
        "".join(workers.supervisor_lines) + "errors:\n" + "".join(workers.errors[:20])
    assert set(counts) == set(range(total))
    if delivery == "exactly_once":
        assert figures.duplicates == 0, [n for n, c in counts.items() if c > 1][:10]
        violations = per_key_order_violations(records)
        assert not violations, violations[:10]
