"""``slither state get`` on the embedded log: ask a running worker with --endpoint
(the log is its), or read the local state directory when none runs."""

from __future__ import annotations

from pathlib import Path

import orjson

from slither_stream.log import open_log
from slither_stream.pipe.deploy.runner import ensure_topics
from slither_stream.pipe.query.owners import key_partition
from tests.cli.helpers import ROOT, slither
from tests.e2e.state_helpers import caught_up, expected, payloads, produce, running, wait_until
from tests.e2e.state_topology import counts_pipe

TOPOLOGY = str(ROOT / "tests/e2e/state_topology.py") + ":counts_pipe"


def test_state_get_asks_the_worker_or_reads_the_local_state(tmp_path: Path) -> None:
    log_url = f"embedded://{tmp_path / 'log'}"
    state_dir = tmp_path / "state"
    definition = counts_pipe.compile().with_namespace("iq")
    data = payloads(300)
    want = expected(data)
    common = ["--log", log_url, "--namespace", "iq", "--state-dir", str(state_dir)]
    with open_log(log_url) as log:
        ensure_topics(log, definition)
        produce(log, definition, data)
        with running(log, definition, state_dir) as (_worker, server):
            wait_until(caught_up(log, definition), "the stage committed its input")
            # the worker holds the embedded log: only its endpoint can answer
            held = slither("state", "get", TOPOLOGY, "count", "totals", "user-3", *common)
            assert held.returncode == 3, held
            assert "--endpoint" in held.stderr and held.stderr.count("\n") == 1
            asked = slither("state", "get", TOPOLOGY, "count", "totals", "user-3", *common,
                            "--endpoint", server.url)
            assert asked.returncode == 0, asked.stderr
            assert orjson.loads(asked.stdout) == want["user-3"]

    # no worker runs: the local state directory is read (read-only)
    found = slither("state", "get", TOPOLOGY, "count", "totals", "user-5", *common, "--full")
    assert found.returncode == 0, found.stderr
    answer = orjson.loads(found.stdout)
    assert answer["value"] == want["user-5"]
    assert answer["partition"] == key_partition(b"user-5", 4)

    missing = slither("state", "get", TOPOLOGY, "count", "totals", "nobody", *common)
    assert (missing.returncode, missing.stdout) == (1, "")
    assert missing.stderr.startswith("error: no value:")
    store = slither("state", "get", TOPOLOGY, "count", "nope", "user-5", *common)
    assert store.returncode == 2
    assert store.stderr == "error: stage 'count' has no state store 'nope' (stores: totals)\n"
    stage = slither("state", "get", TOPOLOGY, "nope", "totals", "user-5", *common)
    assert stage.returncode == 2 and "has no stage 'nope'" in stage.stderr
    elsewhere = slither("state", "get", TOPOLOGY, "count", "totals", "user-5", "--log",
                        log_url, "--namespace", "iq", "--state-dir", str(tmp_path / "none"))
    assert elsewhere.returncode == 3 and "--state-dir" in elsewhere.stderr
    unreachable = slither("state", "get", TOPOLOGY, "count", "totals", "user-5", *common,
                          "--endpoint", "http://127.0.0.1:9")
    assert unreachable.returncode == 3 and "did not answer" in unreachable.stderr
