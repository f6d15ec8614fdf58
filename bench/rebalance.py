"""Keyed state under rebalance and scale-out: slither next to Kafka Streams.

Run: ``.venv/bin/python bench/rebalance.py [--keys 1000000] [--systems slither,kstreams]``

Per system, on one broker, the aggregate case (running count and sum per key, one
output per input record; ``bench/cases``) with its state spread over 4 partitions:

1. **build** — one instance processes ``--keys`` records, one per key, so its state
   holds ``--keys`` keys (not timed);
2. **rebalance pause** — input is produced at ``--rate`` records/s for
   ``--seconds``; a second instance (same group, its own state directory, as a
   second host would be) joins ``--join-after`` seconds in. The pause is the longest
   time in the run during which no output record arrived at all (outputs are
   counted as they become readable, read_committed), i.e. during which neither
   instance processed;
3. **scaling** — a backlog of ``--backlog`` records (over 10,000 keys) is processed
   by one instance, then another backlog by two; records/s of each, from the first
   output on. The
   broker shares the machine's cores with the instances, so a second instance on
   this machine shows the cost of coordination more than a gain.

Prints a table per phase and writes ``bench/results/rebalance-<stamp>.json``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
sys.path.insert(1, str(BENCH.parent))

import orjson  # noqa: E402
from cases import work  # noqa: E402
from confluent_kafka import Consumer, Producer, TopicPartition  # noqa: E402
from harness import kafka_io  # noqa: E402
from harness.broker import broker  # noqa: E402
from harness.procs import SystemProcess  # noqa: E402
from harness.runs import topics_for  # noqa: E402
from harness.systems import System, all_systems  # noqa: E402

PARTITIONS = 4


class Gaps:
    """Reads the outputs as they become readable; remembers the longest silence."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "bench-gaps",
                                  "enable.auto.commit": False,
                                  "isolation.level": "read_committed",
                                  "fetch.wait.max.ms": 20})
        self.consumer.assign([TopicPartition(topic, p, 0) for p in range(PARTITIONS)])
        self.count = 0
        self.first_at: float | None = None
        self.longest = 0.0
        self.longest_at = 0.0
        self._last: float | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-gaps", daemon=True)

    def start(self) -> Gaps:
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            batch = self.consumer.consume(10_000, 0.02)
            good = sum(1 for message in batch if message.error() is None)
            if not good:
                continue
            now = time.monotonic()
            if self.first_at is None:
                self.first_at = now
            if self._last is not None and now - self._last > self.longest:
                self.longest, self.longest_at = now - self._last, now
            self._last = now
            self.count += good

    def reset(self) -> None:
        self.longest, self._last = 0.0, None

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        self.consumer.close()


def paced(bootstrap: str, topic: str, *, first: int, rate: float, seconds: float,
          keys: int) -> int:
    """Produce aggregate records at ``rate`` per second; return how many."""
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5,
                         "compression.type": "lz4"})
    started = time.monotonic()
    sent = 0
    while True:
        elapsed = time.monotonic() - started
        if elapsed >= seconds:
            break
        due = int(elapsed * rate)
        now_ms = int(time.time() * 1000)
        while sent < due:
            n = first + sent
            producer.produce(topic, orjson.dumps(work.aggregate_record(n, now_ms, keys)),
                             work.aggregate_key(n, keys), partition=n % PARTITIONS)
            sent += 1
        producer.poll(0)
        time.sleep(0.005)
    producer.flush(60)
    return sent


def launch(system: System, bootstrap: str, topics: Any, state_dir: Path, *,
           log_dir: Path, name: str) -> SystemProcess:
    state_dir.mkdir(parents=True, exist_ok=True)
    argv = [*system.argv(), "--case", "aggregate", "--bootstrap", bootstrap, "--input",
            topics.input, "--outputs", ",".join(topics.outputs), "--group", topics.group,
            "--state-dir", str(state_dir)]
    return SystemProcess(argv, name=name, log_path=log_dir / f"{topics.group}-{name}.log",
                         cwd=state_dir)


def wait_outputs(gaps: Gaps, wanted: int, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while gaps.count < wanted:
        if time.monotonic() > deadline:
            raise SystemExit(f"{what}: only {gaps.count:,} of {wanted:,} outputs in "
                             f"{timeout:.0f} s")
        time.sleep(0.1)


def backlog_rate(system: System, bootstrap: str, work_dir: Path, *, instances: int,
                 records: int, keys: int) -> float:
    topics = topics_for(system, "aggregate", instances)
    kafka_io.create_topics(bootstrap, [topics.input, *topics.outputs])
    kafka_io.produce_records(
        bootstrap, topics.input, 0, records,
        key=lambda n: work.aggregate_key(n, keys),
        value=lambda n, now: work.aggregate_record(n, now, keys),
        partition=lambda n: n % PARTITIONS)
    gaps = Gaps(bootstrap, topics.outputs[0]).start()
    launched = time.monotonic()
    procs = [launch(system, bootstrap, topics, work_dir / topics.group / f"i{i}",
                    log_dir=work_dir / "logs", name=f"{system.name}-{i}")
             for i in range(instances)]
    try:
        while gaps.count < records:
            if time.monotonic() - launched > 600:
                raise SystemExit(f"scaling run of {system.name} x{instances} timed out")
            time.sleep(0.05)
        assert gaps.first_at is not None
        # from the first output on: start-up (a JVM, an interpreter) is not counted
        return records / (time.monotonic() - gaps.first_at)
    finally:
        for proc in procs:
            proc.stop()
        gaps.stop()


def run_system(system: System, bootstrap: str, work_dir: Path,
               args: argparse.Namespace) -> dict[str, Any]:
    topics = topics_for(system, "aggregate", 0)
    kafka_io.create_topics(bootstrap, [topics.input, *topics.outputs])
    gaps = Gaps(bootstrap, topics.outputs[0]).start()
    first = launch(system, bootstrap, topics, work_dir / topics.group / "a",
                   log_dir=work_dir / "logs", name=f"{system.name}-a")
    second: SystemProcess | None = None
    try:
        # 1. build the state: one record per key
        kafka_io.produce_records(
            bootstrap, topics.input, 0, args.keys, key=lambda n: f"user-{n:07d}".encode(),
            value=lambda n, now: {**work.record(n, now), "user": f"user-{n:07d}",
                                  "amount": n % 1000},
            partition=lambda n: n % PARTITIONS)
        wait_outputs(gaps, args.keys, 900, f"{system.name}: building the state")
        time.sleep(2.0)
        gaps.reset()
        # 2. steady input; a second instance joins part way
        produced: list[int] = []
        producer = threading.Thread(target=lambda: produced.append(paced(
            bootstrap, topics.input, first=args.keys, rate=args.rate, seconds=args.seconds,
            keys=args.keys)),
            name="bench-paced")
        producer.start()
        time.sleep(args.join_after)
        joined = time.monotonic()
        second = launch(system, bootstrap, topics, work_dir / topics.group / "b",
                        log_dir=work_dir / "logs", name=f"{system.name}-b")
        producer.join()
        wait_outputs(gaps, args.keys + produced[0], 300, f"{system.name}: steady input")
        pause, at = gaps.longest, gaps.longest_at - joined
    finally:
        gaps.stop()
        for proc in (second, first):
            if proc is not None:
                proc.stop()
    return {"pause_s": pause, "pause_at_s_after_join": at, "steady_records": produced[0]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", type=int, default=1_000_000)
    parser.add_argument("--rate", type=float, default=5_000)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--join-after", type=float, default=8)
    parser.add_argument("--backlog", type=int, default=300_000)
    parser.add_argument("--systems", default="slither,kstreams")
    parser.add_argument("--bootstrap", default=None)
    args = parser.parse_args()
    systems = all_systems()
    chosen = [systems[name] for name in args.systems.split(",")]
    results: dict[str, Any] = {"keys": args.keys, "rate": args.rate,
                               "seconds": args.seconds, "systems": {}}
    work_dir = BENCH / "results" / f"rebalance-{uuid.uuid4().hex[:6]}"
    with broker(args.bootstrap) as bootstrap:
        for system in chosen:
            if system.name.startswith("kstreams"):
                subprocess.run([*system.argv(), "--build"], check=True)
            print(f"== {system.name}: state of {args.keys:,} keys, a second instance "
                  f"joins after {args.join_after:.0f} s", flush=True)
            figures = run_system(system, bootstrap, work_dir, args)
            print(f"   rebalance pause (longest time with no output): "
                  f"{figures['pause_s']:.2f} s, {figures['pause_at_s_after_join']:.1f} s "
                  "after the join", flush=True)
            rates = {}
            for instances in (1, 2):
                rates[instances] = backlog_rate(system, bootstrap, work_dir,
                                                instances=instances, records=args.backlog,
                                                keys=10_000)
                print(f"   backlog of {args.backlog:,} with {instances} instance(s): "
                      f"{rates[instances]:,.0f} records/s", flush=True)
            figures["scaling"] = {str(k): v for k, v in rates.items()}
            results["systems"][system.name] = figures
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    target = BENCH / "results" / f"rebalance-{stamp}.json"
    target.write_text(json.dumps(results, indent=1))
    print(f"written {target.relative_to(BENCH.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
