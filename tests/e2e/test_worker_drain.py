"""A stopping worker exits within its drain timeout even when the broker is gone.

Draining commits and leaves the group, which needs the broker. With the broker
unreachable the client would keep retrying, so without a deadline SIGTERM left
worker processes running indefinitely (seen as orphaned members burning CPU).
This test runs its own broker so it can kill it.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from slither_stream.log import open_log
from slither_stream.pipe.deploy.runner import ensure_topics
from tests.e2e import worker_topology
from tests.e2e.helpers import wait_for_records
from tests.e2e.test_workers import ROOT, TOPOLOGY, Lines, produce
from tests.kafka_broker import start_local_broker, stop_local_broker

pytestmark = pytest.mark.kafka

DRAIN_TIMEOUT_S = 3.0


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    data = tmp_path / "broker"
    bootstrap = start_local_broker(data)
    try:
        yield bootstrap, data
    finally:
        stop_local_broker(data, kill=True)


def test_sigterm_with_the_broker_gone_exits_within_the_drain_timeout(
        own_broker: tuple[str, Path]) -> None:
    bootstrap, data = own_broker
    log_url = f"kafka://{bootstrap}"
    namespace = "drain"
    definition = worker_topology.busy_pipe.compile().with_namespace(namespace)
    with open_log(log_url) as log:
        ensure_topics(log, definition)
        produce(log, definition.input_topic, [{"n": n} for n in range(3000)])
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "slither"), "worker",
         f"{TOPOLOGY}:busy_pipe", "--log", log_url, "--namespace", namespace,
         "--processes", "2", "--drain-timeout", str(DRAIN_TIMEOUT_S)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={"PYTHONUNBUFFERED": "1", "SLITHER_LOG_LEVEL": "INFO",
             "PATH": str(Path(sys.executable).parent)})
    lines = Lines(process)
    try:
        with open_log(log_url) as log:  # the workers are up and mid-stream
            wait_for_records(log, definition.output_topic("default"), 40)
        tree = psutil.Process(process.pid).children(recursive=True)
        assert len(tree) >= 2, "expected two worker processes"
        stop_local_broker(data, kill=True)
        time.sleep(1.0)  # let the clients notice the broker is gone
        stopped_at = time.monotonic()
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=DRAIN_TIMEOUT_S + 60)
        took = time.monotonic() - stopped_at
        _gone, alive = psutil.wait_procs(tree, timeout=10)
        assert alive == [], f"worker processes outlived the supervisor: {alive}"
        print(f"stopped in {took:.1f}s")
        assert took < DRAIN_TIMEOUT_S + 10, f"took {took:.1f}s to stop"
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        story = "".join(lines.rest())
    # the overrun drain says so, with where each thread was stuck
    assert "drain did not finish within" in story, story[-3000:]
    assert "(most recent call first)" in story, story[-3000:]
