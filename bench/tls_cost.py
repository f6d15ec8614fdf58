"""The throughput cost of TLS: a passthrough stage on PLAINTEXT and on SASL_SSL, same run.

Run: ``.venv/bin/python bench/tls_cost.py [--records 200000] [--rounds 3]``

Starts two ``docker/kafka-local`` brokers on this machine, one PLAINTEXT and one
``--secure`` (SASL_SSL, SCRAM-SHA-512, client certificates required, ACLs), with the
same heap and JIT, and runs the same thing on each, alternating which goes first
each round, after ``--warmup`` rounds per side that are not counted:

* **produce**: ``records`` JSON records of ~180 bytes (the passthrough case's) into
  the 4-partition input topic with a slither producer, records/s until flushed;
* **passthrough**: one at-least-once ``local`` stage that returns its payload, as a
  :class:`~slither_stream.pipe.deploy.worker.Worker` in this process, records/s from
  the worker's start until every record is in the output topic (group join
  included, as for any stage start).

The secured side authenticates as the broker's super user through its
``admin.properties`` (TLS with the client certificate, SCRAM), so ACL checks cost
what they cost for a super user. Prints both sides and the ratio, median of the
rounds, and writes ``bench/results/tls-<UTC time>.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT))



from slither_stream.item import Item  # noqa: E402
from slither_stream.log import Log, open_log  # noqa: E402
from slither_stream.pipe import Pipe  # noqa: E402
from slither_stream.pipe.deploy.runner import ensure_topics  # noqa: E402
from slither_stream.pipe.deploy.worker import Worker  # noqa: E402
from slither_stream.pipe.engine.envelope import Envelope  # noqa: E402

KAFKA_LOCAL = ROOT / "docker" / "kafka-local"
PARTITIONS = 4


def passthrough(item: Item, ctx: Any) -> Any:
    return item.payload


@contextmanager
def local_broker(data: Path, *, secure: bool, heap: str) -> Iterator[str]:
    args = [sys.executable, str(KAFKA_LOCAL), "start", "--data", str(data), "--heap", heap,
            "--owner-pid", str(os.getpid()), *(["--secure"] if secure else [])]
    started = subprocess.run(args, capture_output=True, text=True, timeout=300, check=False)
    if started.returncode != 0:
        raise SystemExit(f"docker/kafka-local start failed:\n{started.stderr[-3000:]}")
    try:
        yield started.stdout.strip().splitlines()[-1]
    finally:
        subprocess.run([sys.executable, str(KAFKA_LOCAL), "stop", "--data", str(data)],
                       capture_output=True, text=True, timeout=120, check=False)


def records(count: int) -> list[tuple[bytes, bytes, tuple[tuple[str, bytes], ...]]]:
    envelope = Envelope()
    now = int(time.time() * 1000)
    built = []
    for n in range(count):
        payload = {"id": n, "user": f"u{n % 1000}", "amount": round(n * 0.37 % 500, 2),
                   "merchant": f"m{n % 97}", "country": "NL", "ts": now + n,
                   "channel": "web", "note": "passthrough benchmark record"}
        key, value, headers = envelope.encode(Item.wrap(payload, key=str(n % 1000)))
        built.append((key or b"", value or b"", tuple(headers)))
    return built


def end_total(log: Log, topic: str) -> int:
    return sum(log.end_offsets(log.partitions_of(topic)).values())


def one_round(url: str, kafka_config: str | None, batch: list[Any]) -> dict[str, float]:
    namespace = f"tls-{uuid.uuid4().hex[:8]}"
    pipe = Pipe("tls", partitions=PARTITIONS).local("pass", passthrough, batch_size=1000)
    definition = pipe.compile().with_namespace(namespace)
    with open_log(url, kafka_config=kafka_config) as log:
        ensure_topics(log, definition)
        started = time.perf_counter()
        with log.producer(delivery_reports="errors") as producer:
            producer.produce_many((definition.input_topic, value, key, headers)
                                  for key, value, headers in batch)
            producer.flush()
        produce_s = time.perf_counter() - started
        worker = Worker(log, definition, tune_gc=False)
        failed: list[BaseException] = []

        def run() -> None:
            try:
                worker.run()
            except BaseException as error:
                failed.append(error)

        output = definition.output_topic("default")
        started = time.perf_counter()
        thread = threading.Thread(target=run, name="bench-tls-worker")
        thread.start()
        done = threading.Event()
        while end_total(log, output) < len(batch):
            if failed:
                raise SystemExit(f"the stage failed: {failed[0]}")
            done.wait(0.05)
        stage_s = time.perf_counter() - started
        worker.stop()
        thread.join(timeout=60)
    return {"produce_rps": len(batch) / produce_s, "passthrough_rps": len(batch) / stage_s}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1,
                        help="rounds per side run first and not counted (JIT, caches)")
    parser.add_argument("--heap", default="1g")
    args = parser.parse_args()
    batch = records(args.records)
    results: dict[str, list[dict[str, float]]] = {"PLAINTEXT": [], "SASL_SSL": []}
    with tempfile.TemporaryDirectory(prefix="slither-bench-tls-") as tmp:
        root = Path(tmp)
        with local_broker(root / "plain", secure=False, heap=args.heap) as plain, \
                local_broker(root / "secure", secure=True, heap=args.heap) as secured:
            sides = {"PLAINTEXT": (f"kafka://{plain}", None),
                     "SASL_SSL": (f"kafka://{secured}",
                                  str(root / "secure" / "secure" / "admin.properties"))}
            for number in range(-args.warmup, args.rounds):
                order = list(sides) if number % 2 == 0 else list(reversed(sides))
                for name in order:
                    url, config = sides[name]
                    measured = one_round(url, config, batch)
                    if number >= 0:
                        results[name].append(measured)
                    label = "warmup " if number < 0 else f"round {number + 1}"
                    print(f"{label} {name:<9} produce {measured['produce_rps']:>9,.0f}"
                          f" rec/s  passthrough {measured['passthrough_rps']:>9,.0f} rec/s",
                          flush=True)
    summary = {name: {metric: statistics.median(r[metric] for r in rounds)
                      for metric in ("produce_rps", "passthrough_rps")}
               for name, rounds in results.items()}
    print(f"\n{args.records:,} records x {args.rounds} rounds, median records/s")
    print(f"{'':<12}{'PLAINTEXT':>12}{'SASL_SSL':>12}{'SASL_SSL/PLAINTEXT':>20}")
    for metric, label in (("produce_rps", "produce"), ("passthrough_rps", "passthrough")):
        plain, secure = summary["PLAINTEXT"][metric], summary["SASL_SSL"][metric]
        print(f"{label:<12}{plain:>12,.0f}{secure:>12,.0f}{secure / plain:>19.2f}x")
    out = BENCH / "results" / f"tls-{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}.json"
    out.write_text(json.dumps({
        "benchmark": "tls_cost", "records": args.records, "rounds": args.rounds,
        "warmup": args.warmup,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "platform": platform.platform()},
        "secured": "SASL_SSL, SCRAM-SHA-512, client certificate (mTLS), ACLs",
        "rounds_measured": results, "median": summary,
    }, indent=2) + "\n")
    print(f"results: {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
