"""Interactive queries against an in-process Worker, on both backends: a worker
answers for the keys of the partitions it owns, names the owner of the others,
says 503 while a partition restores, and its restore metrics move."""

from __future__ import annotations

import base64
import json
import threading
from collections import Counter
from pathlib import Path
from typing import Any

from slither_stream import telemetry
from slither_stream.item import Item
from slither_stream.log import Log, open_log
from slither_stream.log.types import TopicPartition
from slither_stream.observability import MetricsRegistry
from slither_stream.pipe.deploy.runner import ensure_topics
from slither_stream.pipe.engine.envelope import Envelope
from slither_stream.pipe.query.advertise import Advertised
from slither_stream.pipe.query.owners import key_partition
from slither_stream.pipe.query.proxy import fetch
from slither_stream.store.partitioned.recovery import STATE_RESTORE_PROGRESS
from tests.contract.helpers import settle
from tests.e2e.state_helpers import (
    Names,
    caught_up,
    expected,
    get,
    owned,
    payloads,
    produce,
    running,
    wait_until,
)
from tests.e2e.state_topology import counts_pipe


def test_a_worker_answers_for_its_keys_and_names_the_owner_of_the_others(
        log: Log, unique_name: Names, tmp_path: Path) -> None:
    name = unique_name("iq")
    definition = counts_pipe.compile().with_namespace(name)
    plan = definition.stage("count")
    ensure_topics(log, definition)
    data = payloads(600)
    produce(log, definition, data)
    want = expected(data)
    with running(log, definition, tmp_path) as (_worker, server):
        wait_until(caught_up(log, definition), "the stage committed its input")
        wait_until(lambda: owned(server) == [0, 1, 2, 3], "the worker owns every partition")
        for user, value in want.items():
            status, body = get(server.url, "count", "totals", user)
            assert status == 200, body
            assert body["value"] == value
            assert body["partition"] == key_partition(user.encode(), 4)
            assert (body["stage"], body["store"], body["key"]) == ("count", "totals", user)

        status, body = get(server.url, "count", "totals", "user-0", "?format=raw")
        assert status == 200 and json.loads(body) == want["user-0"]
        status, body = get(server.url, "count", "totals", "nobody")
        assert (status, body["code"]) == (404, "no_value")
        assert body["partition"] == key_partition(b"nobody", 4)
        status, body = get(server.url, "nope", "totals", "user-0")
        assert (status, body["code"], body["stages"]) == (404, "unknown_stage", ["count"])
        status, body = get(server.url, "count", "nope", "user-0")
        assert (status, body["code"], body["stores"]) == (404, "unknown_store", ["totals"])
        status, body = get(server.url, "count", "totals", "user-0", "?format=xml")
        assert (status, body["code"]) == (400, "bad_request")
        reply = fetch(f"{server.url}/state/count/totals", 10)
        assert reply.status == 400

        # another member joins the group, advertising its own endpoint: the keys of
        # the partitions it takes are answered with 421 naming it
        other = Advertised("remote-1", "http://other-host:9999")
        foreign = log.consumer(plan.group, client_id=other.client_id)
        try:
            foreign.subscribe([plan.input_topic])
            settle([foreign], lambda: len(foreign.assignment()) == 2
                   and len(owned(server)) == 2, timeout=60)
            theirs = {tp.partition for tp in foreign.assignment()}
            seen = Counter[int]()

            def answers_match() -> bool:
                foreign.poll_batch(100, 0.05)  # stays a live member meanwhile
                for user, value in want.items():
                    status, body = get(server.url, "count", "totals", user)
                    partition = key_partition(user.encode(), 4)
                    if partition in theirs:
                        if status != 421:
                            return False  # the group's view may trail the assignment
                        assert body["code"] == "not_owner"
                        assert (body["owner"], body["member"], body["partition"]) == (
                            "http://other-host:9999", "remote-1", partition)
                        seen[421] += 1
                    else:
                        assert status == 200 and body["value"] == value, body
                        seen[200] += 1
                return True

            settle([foreign], answers_match, timeout=60)
            assert seen[421] and seen[200]
        finally:
            foreign.close()


class BlockFirstRestore:
    """A telemetry handler that holds the first restore as it starts (the restore
    thread waits inside it) until released: the worker is restoring, for sure."""

    def __init__(self) -> None:
        self.started = threading.Event()
        self.release = threading.Event()
        self.partition: int | None = None
        self.id = f"test-block-restore-{id(self)}"

    def __call__(self, event: Any, measurements: dict[str, float],
                 metadata: dict[str, Any]) -> None:
        if self.partition is None and not metadata["done"] and measurements["total"]:
            self.partition = int(metadata["partition"])
            self.started.set()
            assert self.release.wait(60), "never released"

    def __enter__(self) -> BlockFirstRestore:
        telemetry.attach(self.id, STATE_RESTORE_PROGRESS, self)
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        telemetry.detach(self.id)


def samples(metrics: MetricsRegistry, name: str) -> dict[tuple[str, str], float]:
    found = {}
    for family in metrics.registry.collect():
        for sample in family.samples:
            if sample.name == name:
                found[(sample.labels["stage"], sample.labels["partition"])] = sample.value
    return found


def test_a_restoring_partition_answers_503_and_the_restore_metrics_move(
        log: Log, unique_name: Names, tmp_path: Path) -> None:
    name = unique_name("iqrestore")
    definition = counts_pipe.compile().with_namespace(name)
    ensure_topics(log, definition)
    data = payloads(400)
    produce(log, definition, data)
    want = expected(data)
    with running(log, definition, tmp_path / "host-a") as (_worker, server):
        wait_until(caught_up(log, definition), "the stage committed its input")
    # another host, no local state: every partition restores from the changelog
    with MetricsRegistry() as metrics, BlockFirstRestore() as block, \
            running(log, definition, tmp_path / "host-b") as (_worker, server):
        assert block.started.wait(60), "no restore started"
        held = block.partition
        assert held is not None
        user = next(u for u in want if key_partition(u.encode(), 4) == held)
        status, body = get(server.url, "count", "totals", user)
        assert (status, body["code"], body["partition"]) == (503, "restoring", held)
        assert fetch(f"{server.url}/state/count/totals/{user}", 10).headers == (
            ("Retry-After", "1"),)
        records = samples(metrics, "slither_state_restore_records")
        totals = samples(metrics, "slither_state_restore_total_records")
        ratio = samples(metrics, "slither_state_restore_ratio")
        assert records[("count", str(held))] == 0
        assert totals[("count", str(held))] > 0
        assert ratio[("count", str(held))] == 0

        block.release.set()
        wait_until(lambda: owned(server) == [0, 1, 2, 3], "every partition restored")
        for user, value in want.items():
            status, body = get(server.url, "count", "totals", user)
            assert status == 200 and body["value"] == value, body
        ratio = samples(metrics, "slither_state_restore_ratio")
        records = samples(metrics, "slither_state_restore_records")
        assert {labels: value for labels, value in ratio.items() if labels[0] == "count"} \
            == {("count", str(p)): 1.0 for p in range(4)}
        assert records[("count", str(held))] >= sum(
            1 for u in want if key_partition(u.encode(), 4) == held)
        assert b'slither_state_restore_ratio{partition="' in metrics.exposition()


def test_raw_values_are_base64_in_json(unique_name: Names, tmp_path: Path) -> None:
    """A store with the raw serde holds bytes: JSON answers carry them as base64
    (serdes do not depend on the backend: embedded only)."""
    with open_log(f"embedded://{tmp_path / 'log'}") as log:
        _raw_values(log, unique_name, tmp_path)


def _raw_values(log: Log, unique_name: Names, tmp_path: Path) -> None:
    from slither_stream.pipe import Pipe
    from slither_stream.pipe.specs import StateSpec

    def remember(item: Item, ctx: Any) -> Any:
        ctx.state.set(item.payload["blob"].encode())
        return item.payload

    pipe = Pipe(unique_name("iqraw"), partitions=1, commit_interval_ms=100)
    pipe.local("keep", remember, state=[StateSpec("blobs", serde="raw")])
    definition = pipe.compile()
    ensure_topics(log, definition)
    envelope = Envelope()
    with log.producer() as producer:
        key, value, headers = envelope.encode(Item.wrap({"blob": "\u00e9t\u00e9"}, key="k"))
        producer.produce(definition.input_topic, value, key, headers=headers)
        producer.flush()
    plan = definition.stage("keep")
    with running(log, definition, tmp_path) as (_worker, server):
        wait_until(lambda: log.total_lag(plan.group, plan.input_topic) == 0, "committed")
        status, body = get(server.url, "keep", "blobs", "k")
        assert status == 200
        assert body["value_encoding"] == "base64"
        assert base64.b64decode(body["value"]) == "\u00e9t\u00e9".encode()
        assert TopicPartition(plan.input_topic, 0) in log.group_members(plan.group)[0].assignment
