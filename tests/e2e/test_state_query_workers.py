"""Interactive queries on Kafka with real worker processes: two "hosts" (separate
working and state directories), one running ``slither worker --processes 2`` and
the other one process. Each supervisor's public port answers for its processes'
keys and names the other host for the rest; ``slither state get`` finds the owner
from the group."""

from __future__ import annotations

import re
from pathlib import Path

import orjson
import pytest

from slither_stream.log import open_log
from slither_stream.pipe.deploy.runner import ensure_topics
from slither_stream.pipe.query.advertise import parse
from tests.cli.helpers import slither
from tests.e2e.state_helpers import (
    Names,
    caught_up,
    expected,
    get,
    payloads,
    produce,
    wait_until,
)
from tests.e2e.state_topology import counts_pipe
from tests.e2e.test_workers import ROOT, Lines, worker_process

pytestmark = pytest.mark.kafka

TOPOLOGY = str(ROOT / "tests/e2e/state_topology.py") + ":counts_pipe"
SERVING = r"supervisor INFO serving /metrics, /healthz and /livez on (http://\S+)"


def _endpoint(lines: Lines) -> str:
    return lines.wait_for(SERVING, timeout=60).group(1)


def test_workers_answer_for_their_keys_and_name_the_other_host(
        kafka_bootstrap: str, unique_name: Names, tmp_path: Path) -> None:
    log_url = f"kafka://{kafka_bootstrap}"
    namespace = unique_name("iqworkers")
    definition = counts_pipe.compile().with_namespace(namespace)
    plan = definition.stage("count")
    data = payloads(1200)
    want = expected(data)
    hosts = [tmp_path / "host-a", tmp_path / "host-b"]
    for host in hosts:
        host.mkdir()
    with open_log(log_url) as log:
        ensure_topics(log, definition)
        produce(log, definition, data)
        with worker_process(log_url, TOPOLOGY, namespace, processes=2, cwd=hosts[0],
                            options=["--metrics-port", "0"]) as (_a, lines_a), \
                worker_process(log_url, TOPOLOGY, namespace, processes=1, cwd=hosts[1],
                               options=["--metrics-port", "0"]) as (_b, lines_b):
            url_a, url_b = _endpoint(lines_a), _endpoint(lines_b)

            def settled() -> bool:
                members = log.group_members(plan.group)
                adverts = [parse(m.client_id) for m in members]
                return (len(members) == 3 and all(m.assignment for m in members)
                        and sum(len(m.assignment) for m in members) == 4
                        and {a.url for a in adverts if a is not None} == {url_a, url_b})

            wait_until(settled, "three members share the four partitions", timeout=90)
            wait_until(caught_up(log, definition), "the group committed its input")

            answered: dict[str, set[str]] = {url_a: set(), url_b: set()}

            def every_key_answers() -> bool:
                for user, value in want.items():
                    status, body = get(url_a, "count", "totals", user)
                    asked = url_a
                    if status == 421:
                        assert (body["code"], body["owner"]) == ("not_owner", url_b), body
                        asked = url_b
                        status, body = get(url_b, "count", "totals", user)
                    if status == 503:
                        return False  # still restoring after the last move
                    assert status == 200, body
                    assert body["value"] == value, (user, body)
                    answered[asked].add(body["member"])
                return True

            wait_until(every_key_answers, "every key answered with its value", timeout=60)
            # host A's supervisor answered for both of its processes; host B for its
            # own. Member ids are "<host>.<slot>": the hosts differ, the slots do not.
            assert {url: {m.rsplit(".", 1)[1] for m in ids}
                    for url, ids in answered.items()} == {url_a: {"0", "1"}, url_b: {"0"}}
            host_a = {m.rsplit(".", 1)[0] for m in answered[url_a]}
            host_b = {m.rsplit(".", 1)[0] for m in answered[url_b]}
            assert len(host_a) == 1 and len(host_b) == 1 and host_a != host_b, answered

            # the CLI finds each key's owner from the group and asks it
            owned_by_b = next(user for user in want
                              if get(url_a, "count", "totals", user)[0] == 421)
            for user in (owned_by_b, "user-0"):
                found = slither("state", "get", TOPOLOGY, "count", "totals", user,
                                "--log", log_url, "--namespace", namespace, cwd=tmp_path)
                assert found.returncode == 0, found.stderr
                assert orjson.loads(found.stdout) == want[user]
            missing = slither("state", "get", TOPOLOGY, "count", "totals", "nobody",
                              "--log", log_url, "--namespace", namespace, "--endpoint",
                              url_b, cwd=tmp_path)
            assert missing.returncode == 1 and missing.stderr.startswith("error: no value")

            # restore metrics of every member, through the supervisor's endpoint
            metrics = _metrics(url_a)
            # (the metrics' member label is the process slot on its host)
            ratio = r'slither_state_restore_ratio\{[^}]*member="[01]"[^}]*\} 1\.0'
            assert re.search(ratio, metrics), metrics[-2000:]


def _metrics(url: str) -> str:
    from slither_stream.pipe.query.proxy import fetch

    return fetch(f"{url}/metrics", 10).body.decode()
