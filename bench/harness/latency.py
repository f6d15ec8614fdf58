"""The latency case's clock: a paced producer and a reader that times each record.

The producer (a named thread owned by :func:`measure`) sends record ``i`` at
``start + i / rate`` on the monotonic clock, so a late wake-up is caught up at once
instead of drifting, and stamps each record with its send time (``sent_ns``, wall
clock, in the payload: every system passes the payload through). The reader, in the
calling thread, decodes every output and takes latency = receive time - send time
(both ``time.time_ns()`` in this one process). Records sent during the warm-up are
excluded from the percentiles.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from cases import work
from confluent_kafka import Consumer, Producer, TopicPartition

PROBE = -1
"""``n`` of the readiness probe sent before the paced stream."""
PROBE_EVERY_S = 5.0
"""A probe is sent again this often until one comes out."""


class Pacer:
    """Sends ``total`` records at ``rate`` per second to ``topic`` from a thread."""

    def __init__(self, bootstrap: str, topic: str, *, rate: float, total: int) -> None:
        self.topic = topic
        self.rate = rate
        self.total = total
        self.sent = 0
        self.started: float | None = None
        self.finished: float | None = None
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 1,
                                   "queue.buffering.max.messages": 1_000_000})
        self._thread = threading.Thread(target=self._run, name="bench-latency-pacer",
                                        daemon=True)

    def send_probe(self) -> None:
        """Send a probe record now, stamped, and wait for its acknowledgement."""
        self._send(PROBE, int(time.time() * 1000))
        self._producer.flush(30)

    def _send(self, n: int, now_ms: int) -> None:
        payload = work.record(n, now_ms)
        payload["sent_ns"] = time.time_ns()
        self._producer.produce(self.topic, orjson.dumps(payload), work.key_of(max(n, 0)))

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        try:
            start = self.started = time.monotonic()
            now_ms = int(time.time() * 1000)
            while self.sent < self.total and not self._stop.is_set():
                due = min(self.total, int((time.monotonic() - start) * self.rate) + 1)
                while self.sent < due:
                    self._send(self.sent, now_ms)
                    self.sent += 1
                self._producer.poll(0)
                # Wait until the next record is due (a timed wait on the stop event:
                # pacing, not polling for a condition).
                self._stop.wait(max(0.0, start + self.sent / self.rate - time.monotonic()))
            self.finished = time.monotonic()
            self._producer.flush(30)
        except BaseException as error:  # reported by measure(), not lost in the thread
            self.error = error

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()


@dataclass
class Timings:
    """Latency in ms of every measured record, and what was seen."""

    latencies_ms: list[float] = field(default_factory=list)
    received: int = 0
    duplicates: int = 0
    first: float | None = None
    last: float | None = None
    timed_out: bool = False
    process_died: bool = False


def _partitions(consumer: Consumer, topic: str, timeout: float = 30.0) -> int:
    """The partition count of a just-created ``topic``, once metadata shows it: read
    too early, metadata can list no partitions, and an output left unassigned made
    a third of the records (and the probe, routed to ``c``) look lost in the first
    full run."""
    deadline = time.monotonic() + timeout
    while True:
        metadata = consumer.list_topics(topic, timeout=timeout).topics[topic]
        if metadata.partitions and metadata.error is None:
            return len(metadata.partitions)
        if time.monotonic() > deadline:
            raise RuntimeError(f"topic {topic!r} shows no partitions after {timeout:g} s")
        consumer.poll(0.2)  # the client's own wait before asking again


class LatencyReader:
    """Reads the output topics from their start, timing each record on arrival."""

    def __init__(self, bootstrap: str, topics: Sequence[str]) -> None:
        self.consumer = Consumer({"bootstrap.servers": bootstrap,
                                  "group.id": "bench-latency",
                                  "enable.auto.commit": False,
                                  "isolation.level": "read_committed"})
        assignment = []
        for topic in topics:
            assignment += [TopicPartition(topic, p, 0)
                           for p in range(_partitions(self.consumer, topic))]
        self.consumer.assign(assignment)

    def _batch(self, timeout: float) -> list[Any]:
        """What is fetched already, or else the first record within ``timeout``
        (``consume(n, t)`` would wait for ``n`` records and add latency)."""
        batch = self.consumer.consume(1000, 0)
        if batch:
            return list(batch)
        message = self.consumer.poll(timeout)
        return [] if message is None else [message]

    def wait_probe(self, *, timeout: float, alive: Callable[[], bool],
                   send: Callable[[], None]) -> float | None:
        """Seconds until a probe came out (the system is up), None if none did.

        ``send`` writes a probe now and again every ``PROBE_EVERY_S`` seconds: a probe
        written while a just-created input topic has no leader yet can be lost
        (the main run saw 2 of 15 latency runs wait 120 s for a probe that was
        never written)."""
        started = time.monotonic()
        sent_at = -PROBE_EVERY_S
        while time.monotonic() - started < timeout and alive():
            if time.monotonic() - started - sent_at >= PROBE_EVERY_S:
                sent_at = time.monotonic() - started
                send()
            for message in self._batch(0.2):
                if message.error() is None and orjson.loads(message.value())["n"] == PROBE:
                    return time.monotonic() - started
        return None

    def read(self, total: int, warmup: int, *, timeout: float,
             alive: Callable[[], bool]) -> Timings:
        """Read until records ``0 .. total-1`` all arrived; time those ``>= warmup``."""
        timings = Timings()
        seen: set[int] = set()
        deadline = time.monotonic() + timeout
        while len(seen) < total:
            if time.monotonic() > deadline:
                timings.timed_out = True
                break
            if not alive():
                timings.process_died = True
                break
            batch = self._batch(0.05)
            received_ns = time.time_ns()
            now = time.monotonic()
            for message in batch:
                if message.error() is not None:
                    continue
                payload = orjson.loads(message.value())
                n = payload["n"]
                if n == PROBE:
                    continue
                if n in seen:
                    timings.duplicates += 1
                    continue
                seen.add(n)
                timings.first = now if timings.first is None else timings.first
                timings.last = now
                if n >= warmup:
                    timings.latencies_ms.append((received_ns - payload["sent_ns"]) / 1e6)
        timings.received = len(seen)
        return timings

    def close(self) -> None:
        self.consumer.close()


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """The ``q`` quantile (0..1) of ascending ``sorted_values``, nearest rank."""
    if not sorted_values:
        raise ValueError("percentile of no values")
    rank = min(len(sorted_values) - 1, max(0, math.ceil(q * len(sorted_values)) - 1))
    return sorted_values[rank]
