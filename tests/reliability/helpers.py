"""Shared machinery of the reliability suite: scale, figures, records, processes, RSS.

Every scenario sizes itself from ``SLITHER_RELIABILITY_SCALE`` (a fraction of the
issue's full-size figures; the default keeps each scenario in CI's time budget, 1.0
is the issue's 200,000-record run) and prints one ``RELIABILITY:`` line of figures,
so ``pytest -s tests/reliability | grep RELIABILITY:`` collects the whole report.

Progress is observed by waiting on conditions (lines a child prints, records a
consumer polls), never by sleeping.
"""

from __future__ import annotations

import os
import random
import re
import resource
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import psutil

from slither_stream.item import Item
from slither_stream.log import Log, Record, open_log
from slither_stream.pipe.engine.envelope import Envelope
from tests.e2e.helpers import read_topic

ROOT = Path(__file__).resolve().parents[2]
SCALE_ENV = "SLITHER_RELIABILITY_SCALE"
DEFAULT_SCALE = 0.01
FULL_RECORDS = 200_000


def scale() -> float:
    """The suite's scale factor (``SLITHER_RELIABILITY_SCALE``, default 0.01)."""
    raw = os.environ.get(SCALE_ENV, "").strip()
    if not raw:
        return DEFAULT_SCALE
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{SCALE_ENV} must be a number in (0, 1], not {raw!r}") from None
    if not 0 < value <= 1:
        raise ValueError(f"{SCALE_ENV} must be in (0, 1], not {value}")
    return value


def scaled(full: int, *, minimum: int) -> int:
    """``full`` scaled down by :func:`scale`, never below ``minimum``."""
    return max(minimum, round(full * scale()))


# -- figures ------------------------------------------------------------------------


@dataclass
class Figures:
    """What a scenario reports: one ``RELIABILITY:`` line."""

    scenario: str
    backend: str
    records_in: int = 0
    records_out: int = 0
    dlq: int = 0
    skipped: int = 0
    duplicates: int = 0
    restarts: int = 0
    peak_rss_mib: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    def note_rss(self, mib: float) -> None:
        self.peak_rss_mib = max(self.peak_rss_mib, mib)

    def line(self) -> str:
        parts = [f"scenario={self.scenario}", f"backend={self.backend}",
                 f"scale={scale():g}", f"in={self.records_in}", f"out={self.records_out}",
                 f"dlq={self.dlq}", f"skipped={self.skipped}",
                 f"duplicates={self.duplicates}", f"restarts={self.restarts}",
                 f"peak_rss_mib={self.peak_rss_mib:.1f}"]
        parts += [f"{key}={value}" for key, value in self.extra.items()]
        return "RELIABILITY: " + " ".join(parts)

    def report(self) -> None:
        """Print the line. ``peak_rss_mib`` is what the scenario noted: the peak of
        the processes it ran (for in-process scenarios that includes this pytest
        process, whose peak covers the whole session)."""
        print(self.line(), flush=True)


def backend_of(log_url: str) -> str:
    return "kafka" if log_url.startswith("kafka://") else "embedded"


# -- memory -------------------------------------------------------------------------


def self_peak_rss_mib() -> float:
    """Peak RSS of this (test) process, in MiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def peak_rss_mib(pid: int) -> float:
    """Peak RSS (VmHWM) of ``pid`` in MiB; 0 if it is gone."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    found = re.search(r"^VmHWM:\s+(\d+) kB", text, re.MULTILINE)
    return int(found.group(1)) / 1024 if found else 0.0


def tree_peak_rss(pid: int) -> dict[int, float]:
    """Peak RSS in MiB of ``pid`` and every live descendant, by pid."""
    try:
        root = psutil.Process(pid)
        pids = [pid, *(child.pid for child in root.children(recursive=True))]
    except psutil.NoSuchProcess:
        return {}
    return {p: peak_rss_mib(p) for p in pids}


# -- records ------------------------------------------------------------------------


def keyed_payloads(total: int, keys: int) -> list[dict[str, Any]]:
    """``total`` payloads ``{n, key, seq}``: ``n`` is unique, ``seq`` counts per key."""
    seqs: Counter[str] = Counter()
    payloads = []
    for n in range(total):
        key = f"k{n % keys}"
        payloads.append({"n": n, "key": key, "seq": seqs[key]})
        seqs[key] += 1
    return payloads


def produce_items(log: Log, topic: str, payloads: Iterable[dict[str, Any]], *,
                  pace: Callable[[int], None] | None = None) -> int:
    """Produce payloads as pipe items keyed by ``payload["key"]``; ``pace(i)`` is
    called before item ``i`` (to spread production over time)."""
    envelope = Envelope()
    count = 0
    with log.producer() as producer:
        for index, payload in enumerate(payloads):
            if pace is not None:
                pace(index)
            key, value, headers = envelope.encode(Item.wrap(payload, key=payload["key"]))
            producer.produce(topic, value, key, headers=headers)
            count += 1
        producer.flush()
    return count


class PacedProducer:
    """Produces ``payloads`` to ``topic`` spread evenly over ``seconds`` on a named
    thread, so faults land while input still arrives. ``log`` is an open log, or a
    URL the thread opens its own log on. :meth:`stop` ends production early;
    :meth:`finish` waits for the end and raises what production raised."""

    def __init__(self, log: Log | str, topic: str, payloads: Sequence[dict[str, Any]], *,
                 seconds: float, name: str = "reliability-producer") -> None:
        self._log = log
        self._topic = topic
        self._payloads = payloads
        self._seconds = seconds
        self._stop = threading.Event()
        self.errors: list[BaseException] = []
        self._thread = threading.Thread(target=self._run, name=name)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        started = time.monotonic()
        per_record = self._seconds / max(len(self._payloads), 1)

        def pace(index: int) -> None:
            delay = started + index * per_record - time.monotonic()
            if delay > 0 and self._stop.wait(delay):
                raise RuntimeError("production stopped early")

        try:
            if isinstance(self._log, str):
                with open_log(self._log) as own:
                    produce_items(own, self._topic, self._payloads, pace=pace)
            else:
                produce_items(self._log, self._topic, self._payloads, pace=pace)
        except BaseException as error:  # reported by finish()
            self.errors.append(error)

    def finish(self) -> None:
        """Wait until every payload is produced; raise the first production error."""
        if self._thread.ident is not None:
            self._thread.join()
        if self.errors:
            raise AssertionError(f"paced production failed: {self.errors[0]!r}") \
                from self.errors[0]

    def stop(self) -> None:
        """End production early (a test failed) and wait for the thread."""
        self._stop.set()
        if self._thread.ident is not None:
            self._thread.join()


def read_all(log: Log, topic: str, *, timeout: float = 60.0) -> list[Record]:
    """Every record now in ``topic``, in offset order per partition."""
    records = read_topic(log, topic, timeout=timeout)
    records.sort(key=lambda r: (r.partition, r.offset))
    return records


def follow_until(log: Log, topics: Sequence[str], done: Callable[[list[Record]], bool], *,
                 timeout: float) -> list[Record]:
    """Poll ``topics`` from the beginning until ``done(records so far)`` holds."""
    consumer = log.consumer(f"reliability-follower-{time.monotonic_ns()}")
    records: list[Record] = []
    try:
        consumer.assign([(tp, 0) for topic in topics for tp in log.partitions_of(topic)])
        deadline = time.monotonic() + timeout
        while not done(records):
            assert time.monotonic() < deadline, (
                f"gave up after {timeout:.0f}s following {list(topics)}: "
                f"{len(records)} records seen")
            records.extend(consumer.poll_batch(2000, 0.5))
    finally:
        consumer.close()
    return records


def numbers(records: Iterable[Record]) -> Counter[int]:
    """How often each payload ``n`` occurs in ``records``."""
    return Counter(int(orjson.loads(r.value or b"null")["n"]) for r in records)


def per_key_order_violations(records: Iterable[Record]) -> list[str]:
    """Keys whose ``seq`` does not strictly increase along the log (records must be
    in offset order per partition; a key lives in one partition)."""
    last: dict[str, int] = {}
    problems = []
    for record in records:
        payload = orjson.loads(record.value or b"null")
        key, seq = payload["key"], payload["seq"]
        if key in last and seq <= last[key]:
            problems.append(f"{key}: seq {seq} after {last[key]} "
                            f"({record.topic}[{record.partition}]@{record.offset})")
        last[key] = seq
    return problems


def distinct_numbers() -> Callable[[list[Record]], int]:
    """Called with a growing record list: how many distinct ``n`` it holds so far."""
    seen: set[int] = set()
    consumed = [0]

    def count(records: list[Record]) -> int:
        for record in records[consumed[0]:]:
            seen.add(int(orjson.loads(record.value or b"null")["n"]))
        consumed[0] = len(records)
        return len(seen)

    return count


def all_numbers_seen(total: int) -> Callable[[list[Record]], bool]:
    """A ``follow_until`` predicate: ``total`` distinct values of ``n`` have arrived
    (every input, when the inputs are ``range(total)``)."""
    count = distinct_numbers()
    return lambda records: count(records) >= total


# -- worker processes (``slither worker`` under its supervisor) ------------------------


_STARTED = re.compile(r"started worker slot (\d+) as pid (\d+)")
_PROGRESS = re.compile(r"RELIAB-OUT (\d+)")


class SupervisedWorkers:
    """A ``slither worker`` process: its output read by a named thread that tracks
    the slot → pid map (from the supervisor's log) and the progress lines the
    suite's stage functions print, and wakes waiters through a condition.
    ``SLITHER_RELIABILITY_WORKER_LOG=PATH`` appends every other line to PATH."""

    def __init__(self, log_url: str, topology: str, namespace: str, *,
                 processes: int = 1, extra_env: dict[str, str] | None = None) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "SLITHER_RELIABILITY_PROGRESS": "1",
               **(extra_env or {})}
        self.process = subprocess.Popen(
            [str(Path(sys.executable).parent / "slither"), "worker", topology,
             "--log", log_url, "--namespace", namespace, "--processes", str(processes),
             "--log-level", "INFO"],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.slots: dict[int, int] = {}
        self.started = 0
        self.progress = 0
        self.tail: list[str] = []
        self.supervisor_lines: list[str] = []
        self.errors: list[str] = []
        self.kills: list[int] = []
        self.peak_rss: dict[int, float] = {}
        self._changed = threading.Condition()
        copy_to = os.environ.get("SLITHER_RELIABILITY_WORKER_LOG")
        self._copy = open(copy_to, "a") if copy_to else None  # noqa: SIM115  # closed by _read
        self._reader = threading.Thread(target=self._read, name="reliability-worker-output",
                                        daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            with self._changed:
                progress = _PROGRESS.search(line)
                if progress:
                    self.progress += 1
                else:
                    self.tail = [*self.tail[-40:], line]
                    if self._copy is not None:
                        self._copy.write(line)
                    if "ERROR" in line or "Error" in line or "Traceback" in line:
                        self.errors.append(line)
                if " supervisor " in line:
                    self.supervisor_lines.append(line)
                started = _STARTED.search(line)
                if started:
                    self.slots[int(started.group(1))] = int(started.group(2))
                    self.started += 1
                self._changed.notify_all()
        if self._copy is not None:
            self._copy.close()
        with self._changed:
            self._changed.notify_all()

    def wait(self, what: str, predicate: Callable[[], bool], timeout: float = 120.0) -> None:
        with self._changed:
            ok = self._changed.wait_for(
                lambda: predicate() or self.process.poll() is not None, timeout)
            if not predicate():
                state = "exited" if self.process.poll() is not None else "running"
                raise AssertionError(
                    f"waited {timeout:.0f}s for {what}; worker {state}; test killed "
                    f"{self.kills}; supervisor said:\n" + "".join(self.supervisor_lines)
                    + "last lines:\n" + "".join(self.tail[-25:])
                    + ("" if ok else "(timed out)"))

    def wait_for_slots(self, count: int) -> None:
        self.wait(f"{count} worker slots", lambda: len(self.slots) >= count)

    def sample_rss(self) -> None:
        for pid, mib in tree_peak_rss(self.process.pid).items():
            self.peak_rss[pid] = max(self.peak_rss.get(pid, 0.0), mib)

    def kill_random_slot(self, rng: random.Random) -> int:
        """SIGKILL a random worker process; wait until the supervisor restarted it."""
        with self._changed:
            slot = rng.choice(sorted(self.slots))
            victim = self.slots[slot]
            before = self.started
        self.sample_rss()
        os.kill(victim, signal.SIGKILL)
        self.kills.append(victim)
        self.wait(f"restart of slot {slot} after killing pid {victim}",
                  lambda: self.started > before and self.slots[slot] != victim)
        return victim

    def stop(self, timeout: float = 90.0) -> int:
        """SIGTERM the supervisor (workers drain and commit); its exit code."""
        if self.process.poll() is None:
            self.sample_rss()
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
                raise AssertionError("the worker supervisor did not stop on SIGTERM: "
                                     + "".join(self.tail[-25:])) from None
        self._reader.join(timeout=10)
        return int(self.process.returncode)


@contextmanager
def supervised(log_url: str, topology: str, namespace: str, *, processes: int = 1,
               extra_env: dict[str, str] | None = None) -> Iterator[SupervisedWorkers]:
    workers = SupervisedWorkers(log_url, topology, namespace, processes=processes,
                                extra_env=extra_env)
    try:
        yield workers
    finally:
        if workers.process.poll() is None:
            workers.process.kill()
            workers.process.wait()


def duplicates_of(counts: Counter[int]) -> int:
    """Extra copies beyond the first, summed over all values."""
    return sum(count - 1 for count in counts.values() if count > 1)

