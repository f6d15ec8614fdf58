"""``slither worker --metrics-port``: a real worker process serves its counters."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from slither_stream.item import Item
from slither_stream.log import open_log
from slither_stream.pipe.envelope import Envelope
from slither_stream.pipe.runner import ensure_topics
from tests.e2e import worker_topology
from tests.e2e.test_workers import Lines
from tests.observability.conftest import http_get, key, samples

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_worker_serves_metrics_healthz_and_json_logs(
    log_url: str, unique_name: Callable[[str], str],
) -> None:
    namespace = unique_name("obsworker")
    definition = worker_topology.eos_pipe.compile().with_namespace(namespace)
    total = 40
    with open_log(log_url) as log:
        ensure_topics(log, definition)
        envelope = Envelope()
        with log.producer() as producer:
            for n in range(total):
                key_, value, headers = envelope.encode(Item.wrap({"n": n}))
                producer.produce(definition.input_topic, value, key_, headers=headers)
            producer.flush()

    port = free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "slither"), "worker",
         "tests/e2e/worker_topology.py:eos_pipe", "--log", log_url, "--namespace", namespace,
         "--metrics-port", str(port), "--log-format", "json", "--log-level", "info"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = Lines(process)
    try:
        lines.wait_for(rf"caught up after {total} records", timeout=120)
        url = f"http://127.0.0.1:{port}"
        assert http_get(f"{url}/livez")[0] == 200
        status, _, body = http_get(f"{url}/healthz")
        assert (status, json.loads(body)) == (200, {"ready": True, "pending": []})
        got = samples(http_get(f"{url}/metrics")[2])
        assert got[key("slither_records_total", stage="tag", direction="in")] == total
        assert got[key("slither_records_total", stage="tag", direction="out")] == total
        lag = {labels: value for (name, labels), value in got.items()
               if name == "slither_consumer_lag"}
        assert len(lag) == definition.stage("tag").partitions
        assert all(value == 0 for value in lag.values())
        assert got[key("slither_ready")] == 1
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
    assert process.returncode == 0
    worker_lines = [json.loads(line) for line in lines.seen if line.startswith("{")]
    caught_up = [entry for entry in worker_lines if "caught up" in entry["msg"]]
    assert caught_up and caught_up[0]["member"] == "0" and caught_up[0]["level"] == "INFO"
