"""Helpers of the state-query tests: data, a Worker serving ``/state`` in-process,
HTTP answers as JSON, and waits on other threads' and processes' work."""

from __future__ import annotations

import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import orjson

from slither_stream.item import Item
from slither_stream.log import Log
from slither_stream.observability import MetricsRegistry, MetricsServer
from slither_stream.observability.server import HttpReply
from slither_stream.pipe.definition import PipeDefinition
from slither_stream.pipe.deploy.worker import Worker
from slither_stream.pipe.engine.envelope import Envelope
from slither_stream.pipe.query.proxy import fetch
from slither_stream.pipe.query.service import StateQueries
from tests.worker_thread import worker_thread

Names = Callable[[str], str]
USERS = [f"user-{n}" for n in range(12)]


def payloads(count: int) -> list[dict[str, Any]]:
    return [{"user": USERS[n % len(USERS)], "amount": n} for n in range(count)]


def expected(data: list[dict[str, Any]]) -> dict[str, dict[str, int]]:
    counts = Counter(p["user"] for p in data)
    sums: dict[str, int] = defaultdict(int)
    for payload in data:
        sums[payload["user"]] += payload["amount"]
    return {user: {"n": counts[user], "sum": sums[user]} for user in counts}


def produce(log: Log, definition: PipeDefinition, data: list[dict[str, Any]]) -> None:
    envelope = Envelope()
    with log.producer() as producer:
        for payload in data:
            key, value, headers = envelope.encode(Item.wrap(payload, key=payload["user"]))
            producer.produce(definition.input_topic, value, key, headers=headers)
        producer.flush()


def wait_until(check: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    """Until ``check()`` (another thread's or process's work: nothing to wait on)."""
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    delay = 0.02
    while not check():
        assert time.monotonic() < deadline, f"{what} did not happen in {timeout:.0f} s"
        pause.wait(delay)
        delay = min(delay * 2, 0.5)


def get(url: str, stage: str, store: str, key: str, query: str = "") -> tuple[int, Any]:
    reply = fetch(f"{url}/state/{stage}/{store}/{quote(key, safe='')}{query}", 10)
    return reply.status, _json(reply)


def _json(reply: HttpReply) -> Any:
    return orjson.loads(reply.body) if reply.content_type == "application/json" else reply.body


@contextmanager
def running(log: Log, definition: PipeDefinition, state_dir: Path
            ) -> Iterator[tuple[Worker, MetricsServer]]:
    """A Worker in a thread, its ``/state`` on a free port."""
    worker = Worker(log, definition, store_dir=str(state_dir), tune_gc=False)
    server = MetricsServer(MetricsRegistry(), port=0).start()
    server.add_route("/state", StateQueries.for_worker(worker))
    try:
        with worker_thread(worker, name="test-state-worker", ready_timeout=60):
            yield worker, server
    finally:
        server.stop()


def owned(server: MetricsServer) -> list[int]:
    overview = orjson.loads(fetch(f"{server.url}/state", 10).body)
    return list(overview["stages"]["count"].get("owned", []))


def caught_up(log: Log, definition: PipeDefinition) -> Callable[[], bool]:
    plan = definition.stage("count")
    return lambda: log.total_lag(plan.group, plan.input_topic) == 0
