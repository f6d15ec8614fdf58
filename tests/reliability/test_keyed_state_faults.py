"""Keyed state under faults, end to end: real Kafka, real ``slither worker`` hosts.

200,000 records over 10,000 keys go through a pipe that keeps a running count and
sum per key in keyed state (``tests/reliability/keyed_topology.py``), while the
test applies, in one run:

* five SIGKILLs of random worker processes (each host's supervisor restarts its
  process, which reuses the host's local state);
* scale 1 -> 3 -> 1: two more hosts join, later they stop;
* a clean restart of a host on its local state: its log must show that it restored
  only the changelogs' tail;
* a restart of a host with its local state deleted: a full restore;
* a rebalance during a restore: a host joins while that full restore is under way
  (the restore is slowed down by the topology's fault injection so the join lands
  in it; the restoring host logs the partitions revoked from it mid-restore).

Each "host" is a ``slither worker`` supervisor with one worker process and its own
``--store-dir``. Input is produced paced over the run, and each fault waits for the
group's committed progress, so every fault hits a running stream.

Afterwards every input has an output, and the state (a fresh restore from the
changelog) equals the last output of each key. Under exactly_once both equal a dict
oracle exactly and every output is the oracle's running value at that input, once.
Under at_least_once they are never below the oracle; the duplicate outputs (after
kills) are counted and printed in the ``RELIABILITY:`` line.
"""

from __future__ import annotations

import os
import random
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import orjson
import pytest

from slither_stream.log import Log, open_log
from slither_stream.pipe.definition import PipeDefinition
from slither_stream.pipe.deploy.runner import ensure_topics
from slither_stream.store.partitioned.recovery import restore_task
from slither_stream.store.partitioned.task_store import TaskStore
from tests.reliability import keyed_topology
from tests.reliability.helpers import PacedProducer, read_all

pytestmark = [pytest.mark.reliability, pytest.mark.slow, pytest.mark.kafka]

ROOT = Path(__file__).resolve().parents[2]
TOPOLOGY = "tests/reliability/keyed_topology.py"
RECORDS = 200_000
KEYS = 10_000
KILLS = 5
PRODUCE_S = 45.0
"""Input arrives over this long, so the faults land in a running stream."""
RESTORE_DELAY_MS = 400
"""Extra time per restore batch of the host restarted without local state (see
``keyed_topology``): its full restore then lasts long enough for a join to land."""
STAGE = "tally"
WAIT_S = 120.0

_STARTED = re.compile(r"started worker slot \d+ as pid (\d+)")
_RESTORED = re.compile(r"pid (\d+) .*stage \w+: state of partition (\d+) restored: "
                       r"(\d+) changelog records in ([\d.]+) s")
_PROGRESS = re.compile(r"pid (\d+) .*restore of partition (\d+): (\d+)/(\d+) records")
_REVOKED = re.compile(r"FAULTS revoked while restoring: stage \w+ partition (\d+)")


@dataclass
class Restored:
    """A worker's log line saying it restored a partition's state."""

    pid: int
    partition: int
    records: int


@dataclass
class Host:
    """A ``slither worker`` supervisor with one worker process and its own
    ``--store-dir``; a named thread reads its output into the fields below and
    wakes waiters through a condition."""

    name: str
    store_dir: Path
    process: subprocess.Popen[str]
    output: Path
    """Where every line of the host's output is copied."""
    pids: list[int] = field(default_factory=list)
    restored: list[Restored] = field(default_factory=list)
    progress: list[tuple[int, int, int, int]] = field(default_factory=list)
    revoked_restoring: list[int] = field(default_factory=list)
    tail: list[str] = field(default_factory=list)
    changed: threading.Condition = field(default_factory=threading.Condition)

    @property
    def pid(self) -> int | None:
        """The current worker process."""
        with self.changed:
            return self.pids[-1] if self.pids else None

    def read(self) -> None:
        assert self.process.stdout is not None
        with self.output.open("w") as copy:
            self._read(copy)

    def _read(self, copy: TextIO) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            copy.write(line)
            with self.changed:
                self.tail = [*self.tail[-60:], line]
                if found := _STARTED.search(line):
                    self.pids.append(int(found.group(1)))
                elif found := _RESTORED.search(line):
                    self.restored.append(Restored(int(found.group(1)), int(found.group(2)),
                                                  int(found.group(3))))
                elif found := _PROGRESS.search(line):
                    self.progress.append(tuple(int(g) for g in found.groups()))  # type: ignore[arg-type]
                elif found := _REVOKED.search(line):
                    self.revoked_restoring.append(int(found.group(1)))
                self.changed.notify_all()
        with self.changed:
            self.changed.notify_all()

    def story(self) -> str:
        with self.changed:
            return (f"--- host {self.name} (last lines; all in {self.output}):\n"
                    + "".join(self.tail[-30:]))

    def wait(self, what: str, predicate: Callable[[], bool], timeout: float = WAIT_S) -> None:
        with self.changed:
            if not self.changed.wait_for(
                    lambda: predicate() or self.process.poll() is not None, timeout) \
                    or not predicate():
                state = (f"exited with {self.process.poll()}"
                         if self.process.poll() is not None else "running")
                raise AssertionError(f"host {self.name}: waited {timeout:.0f}s for {what} "
                                     f"(supervisor {state})\n{self.story()}")

    def restored_by(self, pid: int | None) -> dict[int, int]:
        """Records restored per partition by worker ``pid`` (its first restore of
        each)."""
        found: dict[int, int] = {}
        with self.changed:
            for entry in self.restored:
                if entry.pid == pid:
                    found.setdefault(entry.partition, entry.records)
        return found

    def stop(self, timeout: float = 90.0) -> None:
        """SIGTERM the supervisor: its worker drains (commits, leaves the group)."""
        self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise AssertionError(f"host {self.name} did not stop on SIGTERM\n"
                                 f"{self.story()}") from None
        assert code == 0, f"host {self.name} exited with {code}\n{self.story()}"


class Cluster:
    """The run's hosts (started and stopped by the test, killed at the end)."""

    def __init__(self, log_url: str, topology: str, namespace: str, root: Path) -> None:
        # a dead member's partitions wait for its session timeout: 3 s instead of 10 s
        self.url = f"{log_url}?session.timeout.ms=3000&heartbeat.interval.ms=1000"
        self.topology = topology
        self.namespace = namespace
        self.root = root
        self.hosts: dict[str, Host] = {}
        self.kills: list[str] = []
        self.starts = 0
        self.worker_processes = 0
        """Worker processes started, restarts included."""

    def start(self, name: str, *, env: dict[str, str] | None = None) -> Host:
        assert name not in self.hosts or self.hosts[name].process.poll() is not None
        store_dir = self.root / name
        self.root.mkdir(parents=True, exist_ok=True)
        self.starts += 1
        output = self.root / f"{self.starts:02d}-{name}.log"
        process = subprocess.Popen(
            [str(Path(sys.executable).parent / "slither"), "worker", self.topology,
             "--log", self.url, "--namespace", self.namespace, "--processes", "1",
             "--store-dir", str(store_dir), "--log-level", "INFO"],
            cwd=ROOT, env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        host = Host(name, store_dir, process, output)
        threading.Thread(target=host.read, name=f"keyed-faults-{name}-output",
                         daemon=True).start()
        if name in self.hosts:
            self.worker_processes += len(self.hosts[name].pids)
        self.hosts[name] = host
        host.wait("its worker process to start", lambda: host.pid is not None)
        return host

    def live(self) -> list[Host]:
        return [host for host in self.hosts.values() if host.process.poll() is None]

    def stop(self, name: str) -> None:
        self.hosts[name].stop()

    def kill_random(self, rng: random.Random) -> None:
        """SIGKILL the worker process of a random live host; wait for its restart."""
        host = rng.choice(sorted(self.live(), key=lambda h: h.name))
        victim = host.pid
        assert victim is not None
        os.kill(victim, signal.SIGKILL)
        self.kills.append(f"{host.name}:{victim}")
        host.wait(f"a new worker process after killing pid {victim}",
                  lambda: host.pid != victim)

    def kill_all(self) -> None:
        for host in self.hosts.values():
            if host.process.poll() is None:
                host.process.kill()
                host.process.wait()

    def story(self) -> str:
        return f"kills: {self.kills}\n" + "\n".join(h.story() for h in self.hosts.values())


# -- input and oracle ---------------------------------------------------------------


def payloads() -> list[dict[str, Any]]:
    """``{n, key, seq, amount}``: ``seq`` counts per key, ``amount`` varies."""
    seqs: Counter[str] = Counter()
    made = []
    for n in range(RECORDS):
        key = f"k{n % KEYS}"
        made.append({"n": n, "key": key, "seq": seqs[key], "amount": (n * 7919) % 1000})
        seqs[key] += 1
    return made


def oracle(data: list[dict[str, Any]]) -> tuple[dict[str, tuple[int, int]],
                                                dict[tuple[str, int], tuple[int, int]]]:
    """Each key's final (count, sum), and each input's running (count, sum)."""
    final: dict[str, tuple[int, int]] = {}
    running: dict[tuple[str, int], tuple[int, int]] = {}
    for payload in data:
        count, total = final.get(payload["key"], (0, 0))
        final[payload["key"]] = value = (count + 1, total + payload["amount"])
        running[(payload["key"], payload["seq"])] = value
    return final, running


# -- waiting on the group -----------------------------------------------------------


class Progress:
    """Records the stage's group has committed (polled: the commits are other
    processes'; a bounded wait with the hosts' story on failure)."""

    def __init__(self, log: Log, definition: PipeDefinition, cluster: Cluster) -> None:
        plan = definition.stage(STAGE)
        self.log = log
        self.group = plan.group
        self.partitions = log.partitions_of(plan.input_topic)
        self.cluster = cluster

    def committed(self) -> int:
        offsets = self.log.committed_offsets(self.group, self.partitions)
        return sum(offset or 0 for offset in offsets.values())

    def lag(self) -> int:
        ends = self.log.end_offsets(self.partitions)
        offsets = self.log.committed_offsets(self.group, self.partitions)
        return sum(end - (offsets[tp] or 0) for tp, end in ends.items())

    def until(self, what: str, predicate: Callable[[], bool], timeout: float = WAIT_S) -> None:
        deadline = time.monotonic() + timeout
        stop = threading.Event()
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError(f"waited {timeout:.0f}s for {what}: committed "
                                     f"{self.committed()}, lag {self.lag()}\n"
                                     f"{self.cluster.story()}")
            stop.wait(0.25)

    def reach(self, fraction: float) -> None:
        target = int(RECORDS * fraction)
        self.until(f"{target} records committed", lambda: self.committed() >= target)


# -- reading the outcome ------------------------------------------------------------


def restore_fresh(log: Log, definition: PipeDefinition, into: Path
                  ) -> tuple[dict[str, tuple[int, int]], dict[int, set[str]]]:
    """Every key's state, restored from the changelog into new instances (as a
    host without local state would), and the keys of each changelog partition."""
    topic = dict(definition.stage(STAGE).changelogs)["totals"]
    state: dict[str, tuple[int, int]] = {}
    keys: dict[int, set[str]] = {}
    for tp in log.partitions_of(topic):
        store = TaskStore(into / str(tp.partition), store="totals", partition=tp.partition)
        try:
            restore_task(log, STAGE, tp.partition, {topic: store},
                         group=f"keyed-faults-check-{time.monotonic_ns()}",
                         cancel=threading.Event())
            keys[tp.partition] = set()
            for key, value in store.items():
                count, total = orjson.loads(value)
                state[key.decode()] = (count, total)
                keys[tp.partition].add(key.decode())
        finally:
            store.close()
    return state, keys


def changelog_records(log: Log, definition: PipeDefinition) -> int:
    topic = dict(definition.stage(STAGE).changelogs)["totals"]
    partitions = log.partitions_of(topic)
    ends = log.end_offsets(partitions)
    begins = log.beginning_offsets(partitions)
    return sum(ends[tp] - begins[tp] for tp in partitions)


def _owns_some(host: Host) -> Callable[[], bool]:
    return lambda: bool(host.restored_by(host.pid))


@pytest.fixture
def cluster(log_url: str, unique_name: Callable[[str], str], tmp_path: Path,
            request: pytest.FixtureRequest) -> Iterator[Cluster]:
    delivery = request.node.callspec.params["delivery"]
    namespace = unique_name(f"keyed-faults-{delivery}")
    started = Cluster(log_url, f"{TOPOLOGY}:{delivery}", namespace, tmp_path / "hosts")
    try:
        yield started
    finally:
        started.kill_all()


@pytest.mark.parametrize("backend", [pytest.param("kafka", marks=pytest.mark.kafka)])
@pytest.mark.parametrize("delivery", ["at_least_once", "exactly_once"])
def test_keyed_state_survives_kills_scaling_restarts_and_restores(
        log_url: str, cluster: Cluster, tmp_path: Path, delivery: str) -> None:
    pipe = getattr(keyed_topology, delivery)
    definition = pipe.compile().with_namespace(cluster.namespace)
    data = payloads()
    final, running = oracle(data)
    figures: dict[str, Any] = {"scenario": f"keyed_state_faults/{delivery}",
                               "backend": "kafka", "in": RECORDS, "keys": KEYS}
    rng = random.Random(23)
    partitions = set(range(keyed_topology.PARTITIONS))
    started = time.monotonic()
    marks: dict[str, float] = {}

    with open_log(log_url) as log:
        ensure_topics(log, definition)
        progress = Progress(log, definition, cluster)
        producer = PacedProducer(log_url, definition.input_topic, data, seconds=PRODUCE_S,
                                 name="keyed-faults-producer")
        try:
            a = cluster.start("a")
            a.wait("host a to restore every partition",
                   lambda: set(a.restored_by(a.pid)) == partitions)
            producer.start()

            # kill 1, then scale 1 -> 3 (hosts b and c join), kills 2 and 3
            progress.reach(0.05)
            cluster.kill_random(rng)
            progress.reach(0.12)
            for name in ("b", "c"):
                joined = cluster.start(name)
                joined.wait("its first partitions", _owns_some(joined))
            progress.reach(0.20)
            cluster.kill_random(rng)
            progress.reach(0.28)
            cluster.kill_random(rng)
            marks["scaled_up_s"] = time.monotonic() - started

            # scale 3 -> 1, kill 4 (host a alone)
            progress.reach(0.35)
            cluster.stop("b")
            cluster.stop("c")
            progress.reach(0.42)
            cluster.kill_random(rng)
            a.wait("host a's new process to own every partition",
                   lambda: set(a.restored_by(a.pid)) == partitions)

            # a clean restart reusing local state restores only the changelogs' tail
            progress.reach(0.50)
            cluster.stop("a")
            in_changelog = changelog_records(log, definition)
            a = cluster.start("a")
            a.wait("host a to restore every partition after its restart",
                   lambda: set(a.restored_by(a.pid)) == partitions)
            tail = a.restored_by(a.pid)
            figures["tail_restored"] = sum(tail.values())
            figures["changelog_at_restart"] = in_changelog
            assert sum(tail.values()) * 20 < in_changelog, (
                f"a restart on local state restored {tail} changelog records per "
                f"partition: not a tail of the {in_changelog} in the changelog\n"
                f"{cluster.story()}")

            # kill 5, then a restart with local state deleted (a full restore,
            # slowed down) during which host b joins
            progress.reach(0.60)
            cluster.kill_random(rng)
            assert len(cluster.kills) == KILLS
            progress.reach(0.70)
            cluster.stop("a")
            shutil.rmtree(a.store_dir)
            a = cluster.start("a", env={"SLITHER_FAULTS_RESTORE_MS": str(RESTORE_DELAY_MS)})
            restoring = a.pid
            a.wait("host a's full restore to be under way",
                   lambda: any(pid == restoring and done < total
                               for pid, _p, done, total in a.progress))
            b = cluster.start("b")
            b.wait("host b to take partitions over",
                   lambda: bool(b.restored_by(b.pid)))
            a.wait("host a to finish a restore",
                   lambda: bool(a.restored_by(restoring)))
            marks["faults_done_s"] = time.monotonic() - started

            producer.finish()
            progress.until("the group to commit every input", lambda: progress.lag() == 0,
                           timeout=180)
            for host in cluster.live():
                host.stop()
        except BaseException:
            producer.stop()
            raise
        marks["processed_s"] = time.monotonic() - started
        full = a.restored_by(restoring)
        revoked_restoring = list(a.revoked_restoring)

        state, keys_of = restore_fresh(log, definition, tmp_path / "fresh")
        outputs = read_all(log, definition.output_topic("default"))

    # -- the restarts --------------------------------------------------------------
    assert revoked_restoring, (
        "host b joined, but no partition was revoked from host a while it restored: "
        f"the rebalance missed the restore\n{cluster.story()}")
    for partition, records in full.items():
        assert records >= len(keys_of[partition]), (
            f"host a restored {records} records of partition {partition} without local "
            f"state; the changelog holds {len(keys_of[partition])} keys there: not a "
            f"full restore\n{cluster.story()}")

    # -- outputs and state against the oracle ----------------------------------------
    seen: Counter[tuple[str, int]] = Counter()
    last: dict[str, dict[str, Any]] = {}
    wrong: list[str] = []
    for record in outputs:  # offset order per partition; a key lives in one
        out = orjson.loads(record.value or b"")
        seen[(out["key"], out["seq"])] += 1
        last[out["key"]] = out
        if delivery == "exactly_once" and (out["n"], out["sum"]) != running[
                (out["key"], out["seq"])]:
            wrong.append(f"{out} expected {running[(out['key'], out['seq'])]}")
    missing = set(running) - set(seen)
    duplicates = sum(count - 1 for count in seen.values())
    figures.update({
        "out": len(outputs), "duplicates": duplicates, "kills": len(cluster.kills),
        "worker_processes": cluster.worker_processes + sum(
            len(h.pids) for h in cluster.hosts.values()),
        "full_restore": sum(full.values()), "revoked_while_restoring": len(revoked_restoring),
        **{name: round(seconds, 1) for name, seconds in marks.items()}})
    print("RELIABILITY: " + " ".join(f"{k}={v}" for k, v in figures.items()), flush=True)

    assert not missing, f"{len(missing)} inputs have no output, e.g. {sorted(missing)[:5]}"
    assert set(state) == set(final), "the changelog's keys are not the input's"
    last_values = {key: (out["n"], out["sum"]) for key, out in last.items()}
    assert state == last_values, "the state differs from each key's last output: " + str(
        [(k, state.get(k), v) for k, v in last_values.items() if state.get(k) != v][:5])
    if delivery == "exactly_once":
        assert duplicates == 0, \
            f"duplicate outputs: {[k for k, c in seen.items() if c > 1][:5]}"
        assert not wrong, f"{len(wrong)} outputs off the oracle, e.g. {wrong[:5]}"
        assert state == final, "state off the oracle: " + str(
            [(k, state[k], v) for k, v in final.items() if state[k] != v][:5])
    else:
        below = [(k, state[k], v) for k, v in final.items()
                 if state[k][0] < v[0] or state[k][1] < v[1]]
        assert not below, f"state below the oracle (lost updates): {below[:5]}"
