"""Keyed-state restore: one worker restoring a stage's state from its changelog, next to
the raw client reading the same changelog; the memory of the worker holding it; and
the tail a restart on the same local state restores.

Run: ``.venv/bin/python bench/keyed_restore.py [--keys 1000000] [--bootstrap HOST:PORT]``

1. The harness writes ``--keys`` records (one per key, ~100-byte JSON values) to the
   changelog of a one-stage pipe's state store (``--partitions`` partitions, keys
   spread by the key partitioner), as a stage would have written them.
2. raw: a confluent-kafka consumer reads the whole changelog (the log-side ceiling).
3. slither: a fresh ``StageLoop`` with no local state starts; the time from its start
   to every task restored is the restore time (records/s = changelog records / time).
   It runs in a process of its own, whose peak RSS is read after, with all the keys
   held (RocksDB block cache and memtables bounded by ``SLITHER_STATE_CACHE_MB``).
4. restart: the same stage starts again on the same local state; the records it
   restored (only the tail past its checkpoints) are printed.

Writes ``bench/results/keyed-restore-<stamp>.json``.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
sys.path.insert(1, str(BENCH.parent))

import orjson  # noqa: E402
from confluent_kafka import Consumer as RawConsumer  # noqa: E402
from confluent_kafka import TopicPartition as RawPartition  # noqa: E402
from harness.broker import broker  # noqa: E402

from slither_stream.context import Context  # noqa: E402
from slither_stream.item import Item  # noqa: E402
from slither_stream.log import open_log  # noqa: E402
from slither_stream.pipe import Pipe  # noqa: E402
from slither_stream.pipe.deploy.runner import ensure_topics  # noqa: E402
from slither_stream.pipe.engine.loop import StageLoop  # noqa: E402


def count(item: Item, ctx: Context) -> Any:
    assert ctx.state is not None
    ctx.state.set(ctx.state.get(0) + 1)
    return item.payload


def write_changelog(url: str, topic: str, keys: int) -> None:
    log = open_log(url)
    try:
        with log.producer() as producer:
            for n in range(keys):
                value = orjson.dumps({"count": n % 97, "sum": n * 3, "user": f"user-{n:08d}",
                                      "last_seen": 1_700_000_000_000 + n})
                producer.produce(topic, value, f"user-{n:08d}".encode())
                if n % 100_000 == 99_999:
                    producer.flush()
            producer.flush()
    finally:
        log.close()


def raw_read(bootstrap: str, topic: str, partitions: int) -> float:
    consumer = RawConsumer({"bootstrap.servers": bootstrap, "group.id": f"raw-{uuid.uuid4()}",
                            "enable.auto.commit": False, "isolation.level": "read_committed",
                            "fetch.queue.backoff.ms": 10, "queued.max.messages.kbytes": 32768})
    ends = {}
    for p in range(partitions):
        _low, high = consumer.get_watermark_offsets(RawPartition(topic, p), timeout=10)
        ends[p] = high
    consumer.assign([RawPartition(topic, p, 0) for p in range(partitions)])
    started = time.perf_counter()
    left = dict(ends)
    read = 0
    while any(left[p] > 0 for p in left):
        for message in consumer.consume(10_000, 0.5):
            if message.error():
                continue
            read += 1
            if message.offset() + 1 >= ends[message.partition()]:
                left[message.partition()] = 0
    elapsed = time.perf_counter() - started
    consumer.close()
    return read / elapsed


def restore(url: str, definition: Any, state_dir: Path) -> tuple[float, int]:
    """Seconds until every task of the stage is restored, and records restored."""
    log = open_log(url)
    started = time.perf_counter()
    done = threading.Event()
    took: list[float] = []

    def progress(stage: StageLoop) -> None:
        assert stage.tasks is not None
        if stage.tasks.stores and not stage.tasks.restoring and not done.is_set():
            took.append(time.perf_counter() - started)
            done.set()
            stage.stop()

    stage = StageLoop(log, definition, "count", on_progress=progress, state_dir=state_dir,
                      poll_timeout=0.05)
    try:
        stage.run()
    finally:
        log.close()
    assert stage.tasks is not None
    return took[0], stage.tasks.restored_records


def build(name: str, partitions: int) -> Any:
    return Pipe(name, partitions=partitions).local("count", count, state=["totals"]).compile()


def child(url: str, name: str, partitions: int, state_dir: Path) -> dict[str, float]:
    """Restore in a process of its own, so its peak RSS is the worker's alone."""
    done = subprocess.run(
        [sys.executable, __file__, "--child", url, name, str(partitions), str(state_dir)],
        capture_output=True, text=True, check=True, timeout=600)
    figures: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


def main() -> int:
    if sys.argv[1:2] == ["--child"]:
        url, name, partitions, state_dir = sys.argv[2:6]
        seconds, restored = restore(url, build(name, int(partitions)), Path(state_dir))
        rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps({"seconds": seconds, "restored": restored, "rss_mb": rss_mb}))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", type=int, default=1_000_000)
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--bootstrap", default=None)
    args = parser.parse_args()
    with broker(args.bootstrap) as bootstrap, \
            tempfile.TemporaryDirectory(prefix="slither-keyed-restore-") as tmp:
        url = f"kafka://{bootstrap}"
        name = f"keyed_restore_{uuid.uuid4().hex[:6]}"
        definition = build(name, args.partitions)
        log = open_log(url)
        ensure_topics(log, definition)
        loop = StageLoop(log, definition, "count", state_dir=Path(tmp))
        assert loop.tasks is not None
        loop.tasks.ensure_changelogs()
        log.close()
        topic = definition.stage("count").changelogs[0][1]
        print(f"writing {args.keys:,} keys to {topic} ({args.partitions} partitions)",
              flush=True)
        write_changelog(url, topic, args.keys)
        raw_rate = raw_read(bootstrap, topic, args.partitions)
        print(f"raw client reads the changelog: {raw_rate:,.0f} records/s", flush=True)
        first = child(url, name, args.partitions, Path(tmp) / "state")
        seconds, restored, rss_mb = first["seconds"], int(first["restored"]), first["rss_mb"]
        rate = restored / seconds
        print(f"slither restores {restored:,} records in {seconds:.2f} s: {rate:,.0f} "
              f"records/s ({rate / raw_rate:.2f}x the raw read); peak RSS {rss_mb:.0f} MB",
              flush=True)
        tail = int(child(url, name, args.partitions, Path(tmp) / "state")["restored"])
        print(f"restart on the same local state restores {tail:,} records", flush=True)
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    target = BENCH / "results" / f"keyed-restore-{stamp}.json"
    target.parent.mkdir(exist_ok=True)
    target.write_text(json.dumps({
        "keys": args.keys, "partitions": args.partitions, "raw_read_rate": raw_rate,
        "restore_rate": rate, "restore_seconds": seconds, "restored": restored,
        "peak_rss_mb": rss_mb, "restart_restored": tail}, indent=1))
    print(f"written {target.relative_to(BENCH.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
