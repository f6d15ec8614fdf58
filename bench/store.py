"""Store benchmark: reads against a plain dict and a raw rocksdict handle; restore and
reload speed on both log backends.

Run: ``.venv/bin/python bench/store.py [--records N] [--bootstrap HOST:PORT | --no-kafka]``

Prints, in one run:

1. point ``get``/s and ``get_many`` keys/s of a store table (key encoding, RocksDB,
   JSON decoding), of a StoreReader in the same process (RocksDB secondary), of the
   raw rocksdict column family underneath (bytes in, bytes out), and of a plain dict
   holding the same decoded values -- same random keys for all;
2. restore records/s: a store starts on an empty directory and rebuilds from an
   N-record changelog (default 1,000,000), on the embedded log and on Apache Kafka,
   next to reading the same changelog through the log interface alone (the log-side
   ceiling) and to applying the same records from memory (the store-side ceiling);
3. reload time: ``reload("changelog")`` of the same store (replay into a new
   generation and swap).

Kafka comes from ``--bootstrap``, else ``docker/kafka-local`` is started for the run
(and stopped after). Read figures are medians of ``--repeat`` round-robin rounds (each
reader timed once per round, so background load hits every column alike); restore
and reload run once. Compare columns within one run, not across machines.
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from slither_stream.log import Log, open_log  # noqa: E402
from slither_stream.store import (  # noqa: E402
    Store,
    StoreApp,
    StoreReader,
    TableSpec,
    changelog_topic,
)
from slither_stream.store.generations import raw_get, raw_get_many  # noqa: E402
from slither_stream.store.keys import TupleKeyCodec  # noqa: E402


class BenchStore(Store):
    name = "bench"

    def tables(self) -> Sequence[TableSpec]:
        return [TableSpec("features")]


def value_for(i: int) -> dict[str, Any]:
    return {"id": i, "user": f"user-{i % 5000}", "amount": i * 0.25, "flags": [i % 3, i % 7]}


def fill_changelog(log: Log, topic: str, records: int) -> float:
    """Produce ``records`` changelog records directly; return records/s."""
    codec = TupleKeyCodec()
    log.create_topic(topic, 1, compacted=True)
    producer = log.producer()
    started = time.perf_counter()
    for i in range(records):
        producer.produce(topic, orjson.dumps(value_for(i)), codec.encode(("k", i)))
    producer.flush(600)
    elapsed = time.perf_counter() - started
    producer.close()
    return records / elapsed


def read_changelog(log: Log, topic: str, records: int) -> float:
    """Only read the changelog through the log interface (no RocksDB); records/s."""
    consumer = log.consumer("bench-read-" + uuid.uuid4().hex[:8])
    try:
        consumer.assign([(log.partitions_of(topic)[0], 0)])
        seen = 0
        started = time.perf_counter()
        while seen < records:
            seen += len(consumer.poll_batch(10_000, timeout=1.0))
        return records / (time.perf_counter() - started)
    finally:
        consumer.close()


def apply_only(records: int, scratch: Path) -> float:
    """The store side of a restore alone: records already in memory, applied in
    100k-record write batches to a fresh generation and flushed; records/s."""
    from rocksdict import WriteBatch

    from slither_stream.log.types import Record
    from slither_stream.store.generations import Generation
    from slither_stream.store.recovery import _apply

    codec = TupleKeyCodec()
    batch_of = [Record("t", 0, i, codec.encode(("k", i)), orjson.dumps(value_for(i)))
                for i in range(records)]
    scratch.mkdir(parents=True)
    generation = Generation(scratch, 1, BenchStore().tables())
    handles = {"t": generation.handles["features"]}
    started = time.perf_counter()
    for start in range(0, records, 100_000):
        batch = WriteBatch(raw_mode=True)
        _apply(batch_of[start:start + 100_000], batch, handles)
        generation.write(batch, wal=False)
    generation.flush()
    elapsed = time.perf_counter() - started
    generation.close()
    return records / elapsed


def timed(repeat: int, body: Callable[[], object]) -> float:
    """Median wall-clock seconds of ``repeat`` runs of ``body``."""
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        body()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def read_figures(app: StoreApp, reader: StoreReader, records: int, lookups: int,
                 repeat: int) -> list[tuple[str, float, float]]:
    """(name, gets/s, get_many keys/s) for each way of reading the same keys."""
    table = app["bench"].table("features")
    mirror = reader.table("features")
    column = app["bench"].owner.current.tables["features"]
    codec = TupleKeyCodec()
    rng = random.Random(7)
    ids = [rng.randrange(records) for _ in range(lookups)]
    keys = [("k", i) for i in ids]
    raw_keys = [codec.encode(key) for key in keys]
    plain = {("k", i): value_for(i) for i in range(records)}
    batches = [keys[i:i + 100] for i in range(0, len(keys), 100)]
    raw_batches = [raw_keys[i:i + 100] for i in range(0, len(raw_keys), 100)]

    def gets(get: Callable[[Any], Any], chosen: list[Any]) -> Callable[[], None]:
        def body() -> None:
            for key in chosen:
                get(key)
        return body

    def many(get_many: Callable[[Any], Any], chosen: list[Any]) -> Callable[[], None]:
        def body() -> None:
            for batch in chosen:
                get_many(batch)
        return body

    rows = [
        ("plain dict (decoded values)", gets(plain.get, keys),
         many(lambda batch: [plain.get(k) for k in batch], batches)),
        ("raw rocksdict handle (bytes)", gets(lambda k: raw_get(column, k), raw_keys),
         many(lambda batch: raw_get_many(column, batch), raw_batches)),
        ("store Table (owner)", gets(table.get, keys), many(table.get_many, batches)),
        ("StoreReader (secondary)", gets(mirror.get, keys), many(mirror.get_many, batches)),
    ]
    assert table.get(keys[0]) == plain[keys[0]] == mirror.get(keys[0])
    # Round-robin: every reader is timed once per round, so a burst of load on the
    # machine hits all columns alike; the median per reader is reported.
    samples: dict[str, tuple[list[float], list[float]]] = {name: ([], []) for name, *_ in rows}
    for _ in range(repeat):
        for name, point, batch in rows:
            samples[name][0].append(timed(1, point))
            samples[name][1].append(timed(1, batch))
    return [(name, lookups / statistics.median(points), lookups / statistics.median(batches))
            for name, (points, batches) in samples.items()]


def backend_figures(url: str, data_dir: Path, records: int, *, lookups: int, repeat: int,
                    with_reads: bool) -> dict[str, Any]:
    app_name = "bench-" + uuid.uuid4().hex[:8]
    log = open_log(url)
    try:
        topic = changelog_topic(app_name, "bench", "features")
        fill = fill_changelog(log, topic, records)
        read = read_changelog(log, topic, records)
        app = StoreApp([BenchStore], log=log, app=app_name, data_dir=data_dir,
                       grace_period=0.5)
        started = time.perf_counter()
        app.start()
        restore = records / (time.perf_counter() - started)
        try:
            size = app["bench"].table("features").size()
            assert size == records, f"restored {size} of {records} records"
            started = time.perf_counter()
            app.reload("bench", "changelog")
            reload_seconds = time.perf_counter() - started
            reads: list[tuple[str, float, float]] = []
            if with_reads:
                with StoreReader(BenchStore, app=app_name, data_dir=data_dir,
                                 catch_up_interval=None) as reader:
                    reads = read_figures(app, reader, records, lookups, repeat)
        finally:
            app.stop()
        return {"fill": fill, "read": read, "restore": restore, "reload": reload_seconds,
                "reads": reads}
    finally:
        log.close()


@contextmanager
def kafka(bootstrap: str | None) -> Iterator[str]:
    if bootstrap:
        yield bootstrap
        return
    data = tempfile.mkdtemp(prefix="slither-bench-kafka-")
    script = [sys.executable, str(ROOT / "docker" / "kafka-local")]
    started = subprocess.run([*script, "start", "--data", data], capture_output=True,
                             text=True, check=False, timeout=300)
    if started.returncode != 0:
        raise SystemExit(f"could not start docker/kafka-local: {started.stderr.strip()}")
    try:
        yield started.stdout.strip().splitlines()[-1]
    finally:
        subprocess.run([*script, "stop", "--data", data], capture_output=True, check=False,
                       timeout=120)
        shutil.rmtree(data, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--lookups", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--bootstrap", help="host:port of a running Kafka broker")
    parser.add_argument("--no-kafka", action="store_true", help="embedded backend only")
    args = parser.parse_args()

    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="slither-bench-store-") as scratch:
        root = Path(scratch)
        results["embedded"] = backend_figures(
            f"embedded://{root / 'log'}", root / "stores-embedded", args.records,
            lookups=args.lookups, repeat=args.repeat, with_reads=True)
        ceiling = apply_only(args.records, root / "apply-only")
        if not args.no_kafka:
            with kafka(args.bootstrap) as bootstrap:
                results["kafka"] = backend_figures(
                    f"kafka://{bootstrap}", root / "stores-kafka", args.records,
                    lookups=args.lookups, repeat=args.repeat, with_reads=False)

    print(f"\nStore reads: {args.lookups:,} random keys of {args.records:,}, "
          f"get_many in batches of 100 (median of {args.repeat})")
    print(f"{'reader':<32}{'get/s':>14}{'get_many keys/s':>18}")
    for name, point, batch in results["embedded"]["reads"]:
        print(f"{name:<32}{point:>14,.0f}{batch:>18,.0f}")
    print(f"\nRestore and reload of a {args.records:,}-record changelog")
    print(f"{'backend':<12}{'fill (produce) rec/s':>22}{'log read only rec/s':>21}"
          f"{'restore rec/s':>16}{'reload (changelog) s':>22}")
    for backend, figures in results.items():
        print(f"{backend:<12}{figures['fill']:>22,.0f}{figures['read']:>21,.0f}"
              f"{figures['restore']:>16,.0f}{figures['reload']:>22.2f}")
    print(f"{'(no log)':<12}{'':>22}{'':>21}{ceiling:>16,.0f}   <- store-side apply alone")


if __name__ == "__main__":
    main()
