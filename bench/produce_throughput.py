"""``slither produce`` of JSON lines beside a raw confluent-kafka producer loop.

Run: ``.venv/bin/python bench/produce_throughput.py [--lines N] [--rounds R]
[--bootstrap HOST:PORT]``

In one run, against one broker (``docker/kafka-local`` started for the run unless
``--bootstrap`` is given), over one generated file of ``--lines`` JSON lines (default
1,000,000 transactions of ~65 bytes), each system produces the whole file to a fresh
topic of ``--partitions`` partitions, each as its own process, timed from start to
exit (so interpreter start-up and imports count for both):

* ``raw``          - a confluent-kafka ``Producer`` loop: read a line, ``produce``,
  ``poll(0)`` every 1,000 lines, ``flush`` at the end; librdkafka configured as the
  Kafka backend configures it (idempotent, acks=all, murmur2, lz4, linger 5 ms), no
  delivery callback. In the ``keyed`` case it parses each line with orjson for the
  key, as ``--key-field`` needs to.
* ``slither``      - ``slither produce TOPIC FILE`` (``--key-field user_id`` when keyed),
  stderr not a terminal (no progress).
* ``slither-tty``  - the same with ``--progress`` and stderr on a pseudo-terminal:
  what a user at a terminal runs.

Every topic is checked to hold all the lines afterwards. Rounds are interleaved; the
table shows the median rate per system and case and the ratio to ``raw`` per round.
Results go to ``bench/results/produce-<timestamp>.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import pty
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.harness.broker import broker  # noqa: E402

SLITHER = Path(sys.executable).parent / "slither"
SYSTEMS = ("raw", "slither", "slither-tty")
CASES = {"plain": None, "keyed": "user_id"}
KEY_FIELD = "user_id"


def generate(path: Path, lines: int) -> None:
    """``lines`` transactions as JSON lines (deterministic)."""
    import orjson

    rng = random.Random(22)
    with path.open("wb") as handle:
        for i in range(lines):
            handle.write(orjson.dumps({
                "txn_id": f"t{i:08d}", "user_id": f"u{rng.randrange(100_000):05d}",
                "amount": round(rng.uniform(1, 500), 2), "hour": rng.randrange(24),
            }) + b"\n")


def raw_loop(path: str, topic: str, bootstrap: str, key_field: str | None) -> None:
    """The raw client's loop (run in a child process by :func:`run_raw`)."""
    import orjson
    from confluent_kafka import Producer

    from slither_stream.log.kafka._config import PRODUCER_DEFAULTS

    producer = Producer({"bootstrap.servers": bootstrap, **PRODUCER_DEFAULTS})
    produce, poll = producer.produce, producer.poll
    count = 0
    with open(path, "rb") as handle:
        for line in handle:
            value = line.rstrip(b"\r\n")
            if not value:
                continue
            key = None
            if key_field is not None:
                key = str(orjson.loads(value)[key_field]).encode()
            while True:
                try:
                    produce(topic, value, key)
                    break
                except BufferError:
                    poll(0.05)
            count += 1
            if count % 1000 == 0:
                poll(0)
    left = producer.flush(60)
    if left:
        raise SystemExit(f"{left} records not delivered")
    print(f"produced {count} records to {topic}")


def create_topic(bootstrap: str, partitions: int) -> str:
    from slither_stream.log import open_log

    topic = f"produce-bench-{uuid.uuid4().hex[:10]}"
    with open_log(f"kafka://{bootstrap}") as log:
        log.create_topic(topic, partitions)
    return topic


def stored(bootstrap: str, topic: str) -> int:
    from slither_stream.log import open_log

    with open_log(f"kafka://{bootstrap}") as log:
        return sum(log.end_offsets(log.partitions_of(topic)).values())


def run_system(system: str, path: Path, topic: str, bootstrap: str,
               key_field: str | None) -> float:
    """Seconds from start to exit of one system producing ``path`` to ``topic``."""
    if system == "raw":
        command = [sys.executable, str(Path(__file__).resolve()), "--raw-loop", str(path),
                   topic, bootstrap, key_field or ""]
    else:
        command = [str(SLITHER), "produce", topic, str(path), "--log", f"kafka://{bootstrap}"]
        if key_field is not None:
            command += ["--key-field", key_field]
        command.append("--progress" if system == "slither-tty" else "--no-progress")
    if system != "slither-tty":
        started = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True, check=False,
                              cwd=ROOT)
        elapsed = time.perf_counter() - started
        if done.returncode != 0:
            raise SystemExit(f"{system} failed ({done.returncode}): {done.stderr[-2000:]}")
        return elapsed
    # stderr on a pseudo-terminal, drained by a thread so the child never blocks
    main, child = pty.openpty()
    drained = threading.Thread(target=_drain, args=(main,), name="bench-pty-drain",
                               daemon=True)
    drained.start()
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=child, cwd=ROOT)
    os.close(child)
    output, _ = process.communicate()
    elapsed = time.perf_counter() - started
    drained.join(timeout=10)
    if process.returncode != 0:
        raise SystemExit(f"{system} failed ({process.returncode}): {output[-2000:]!r}")
    return elapsed


def _drain(fd: int) -> None:
    try:
        while os.read(fd, 65536):
            pass
    except OSError:
        pass  # the child closed the terminal
    finally:
        os.close(fd)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--raw-loop":
        path, topic, bootstrap, key_field = sys.argv[2:6]
        raw_loop(path, topic, bootstrap, key_field or None)
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--bootstrap", default=None, help="use this broker (host:port)")
    parser.add_argument("--out", type=Path, default=BENCH / "results")
    args = parser.parse_args()

    runs: list[dict[str, object]] = []
    with tempfile.TemporaryDirectory(prefix="slither-produce-bench-") as tmp, \
            broker(args.bootstrap) as bootstrap:
        path = Path(tmp) / "lines.jsonl"
        generate(path, args.lines)
        print(f"{args.lines:,} lines ({path.stat().st_size / 1e6:.1f} MB) to {args.partitions} "
              f"partitions on {bootstrap}, {args.rounds} rounds", flush=True)
        for round_ in range(args.rounds):
            for case, key_field in CASES.items():
                for system in SYSTEMS:
                    topic = create_topic(bootstrap, args.partitions)
                    seconds = run_system(system, path, topic, bootstrap, key_field)
                    count = stored(bootstrap, topic)
                    if count != args.lines:
                        raise SystemExit(f"{system}/{case}: {count} of {args.lines} stored")
                    rate = args.lines / seconds
                    runs.append({"round": round_, "case": case, "system": system,
                                 "seconds": seconds, "rate": rate})
                    print(f"round {round_} {case:<6} {system:<12} {rate:>10,.0f} rec/s "
                          f"({seconds:.2f} s)", flush=True)

    summary = summarize(runs)
    print()
    print(f"{'case':<7}{'system':<13}{'median rec/s':>14}{'x raw (per round)':>28}")
    for row in summary:
        ratios = ", ".join(f"{r:.2f}" for r in row["ratios"])
        print(f"{row['case']:<7}{row['system']:<13}{row['rate']:>14,.0f}"
              f"{row['ratio']:>8.2f}x  ({ratios})")
    args.out.mkdir(parents=True, exist_ok=True)
    output = args.out / f"produce-{time.strftime('%Y%m%dT%H%M%S')}.json"
    output.write_text(json.dumps({"lines": args.lines, "partitions": args.partitions,
                                  "rounds": args.rounds, "runs": runs,
                                  "summary": summary}, indent=1))
    print(f"\nresults: {output}")


def summarize(runs: list[dict[str, object]]) -> list[dict[str, object]]:
    """Median rate per case and system, and each round's ratio to ``raw``."""
    rows: list[dict[str, object]] = []
    for case in CASES:
        raw = {r["round"]: float(r["rate"]) for r in runs  # type: ignore[arg-type]
               if r["case"] == case and r["system"] == "raw"}
        for system in SYSTEMS:
            mine = [r for r in runs if r["case"] == case and r["system"] == system]
            ratios = [float(r["rate"]) / raw[r["round"]] for r in mine]  # type: ignore[arg-type]
            rows.append({"case": case, "system": system,
                         "rate": statistics.median(float(r["rate"]) for r in mine),  # type: ignore[arg-type]
                         "ratio": statistics.median(ratios), "ratios": ratios})
    return rows


if __name__ == "__main__":
    main()
