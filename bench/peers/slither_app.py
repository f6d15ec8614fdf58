"""slither-stream doing each case, as a long-lived ``Worker`` on Kafka.

The pipe for a case is one stage named ``s`` under namespace ``--group``, so its input
topic is ``<group>.s.in`` and its outputs ``<group>.out.<name>`` (the harness names
the topics that way). ``--delivery exactly_once`` switches to transactions.

* passthrough: a ``local`` stage with the per-item ``enrich`` handler;
* router: a ``router`` stage, one predicate per output (``a``, ``b``, ``c``);
* compute: a ``compute`` stage, batches of 64, ``processes`` executor with 2 workers;
* backlog: the same stage with a model 50 ms slower per batch, so the input backlog
  stays far ahead of it (the memory case);
* restore: a store ``bench`` (table ``features``) declared on the pipe and a local
  stage whose batch handler ``bulk_insert``s the batch into it, then passes it on; on
  start the worker restores the store from its changelog before any stage runs.
* aggregate: a local stage with keyed state (``state=["totals"]``): its per-item
  handler reads the record key's running total with ``ctx.state.get`` and writes
  the new one with ``ctx.state.set``; the state is partitioned with the input (one
  RocksDB instance per partition, a compacted changelog per store), the stage's
  write buffer answers reads (read-your-writes) and commits the last total per key
  with the stage's outputs (in its transaction under exactly_once).
* lookup: a store ``lookup`` whose ``load`` reads the table topic (``--table``) and
  ``bulk_insert``s it (the store is populated before any stage runs); a local stage's
  batch handler looks each record's key up with one ``get_many`` per batch through
  ``ctx.stores``.
* latency: local -> local -> router (3 outputs), batches of at most ``LOCAL_BATCH``
  (a stage's poll returns what is there, so batches stay small at 5,000 rec/s; a
  cap of 100 made exactly_once commit a transaction per 100 records and fall
  behind), the backend's ``linger.ms=5`` (0-1 ms measured worse on a loaded 2-core broker: one
  produce request per record); a stage's poll returns as soon as a record is there.

Every case declares the outputs the harness reads with ``headers=False``: key and
value only, as the raw loop and the peers write them (slither's id header measured
about a fifth of the stage's CPU per record on passthrough, see
``slither_stream/pipe/engine/envelope.py``). Topics between stages keep the envelope.

The worker runs in this process (``Worker.run``); SIGTERM makes it drain and stop.
Stores live under ``--state-dir``.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson
from confluent_kafka import Consumer, TopicPartition

BENCH = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(BENCH))
sys.path.insert(1, str(BENCH.parent))

from cases import args as cli  # noqa: E402
from cases import work  # noqa: E402

from slither_stream.item import Item  # noqa: E402
from slither_stream.log import open_log  # noqa: E402
from slither_stream.observability import configure_logging  # noqa: E402
from slither_stream.pipe import Pipe  # noqa: E402
from slither_stream.pipe.deploy.worker import Worker  # noqa: E402
from slither_stream.store import Store, TableSpec  # noqa: E402

LOCAL_BATCH = 1000
"""Records per stage batch (one produce+flush+commit per batch): the throughput knob."""

SETTINGS = ("1 worker process, local/router batch_size=1000 (LOCAL_BATCH), "
            "outputs declared headers=False (key and value only, as the peers write), "
            "Kafka backend defaults (lz4, linger.ms=5, idempotent); compute: batch 64, "
            "processes executor x2, max_in_flight 4; aggregate: keyed state "
            "(ctx.state, RocksDB per partition + changelog); "
            "lookup: store loaded by load() "
            "(bulk_insert), get_many per batch; latency: local->local->router, "
            "batch_size=1000, linger.ms=5")

TABLE_TOPIC = ""
"""The lookup case's table topic, set by ``main`` before the store is created."""
BOOTSTRAP = ""


class BenchStore(Store):
    """The restore case's store: one table keyed by the record number."""

    name = "bench"

    def tables(self) -> Sequence[TableSpec]:
        return [TableSpec("features", key="string")]


class LookupStore(Store):
    """The lookup case's table, keyed by the record key (bytes), loaded from the
    table topic the harness produced (every partition, up to its end)."""

    name = "lookup"

    def tables(self) -> Sequence[TableSpec]:
        return [TableSpec("profiles", key="bytes")]

    def load(self, tables: Any) -> None:
        consumer = Consumer({"bootstrap.servers": BOOTSTRAP, "group.id": "bench-load",
                             "enable.auto.commit": False})
        try:
            metadata = consumer.list_topics(TABLE_TOPIC, timeout=30).topics[TABLE_TOPIC]
            ends = {}
            for partition in metadata.partitions:
                _low, high = consumer.get_watermark_offsets(
                    TopicPartition(TABLE_TOPIC, partition), timeout=30)
                if high > 0:
                    ends[partition] = high
            consumer.assign([TopicPartition(TABLE_TOPIC, p, 0) for p in ends])
            while ends:
                rows = []
                for message in consumer.consume(10_000, 1.0):
                    if message.error() is not None:
                        raise RuntimeError(f"reading {TABLE_TOPIC}: {message.error()}")
                    rows.append((message.key(), orjson.loads(message.value())))
                    if message.offset() + 1 >= ends.get(message.partition(), 0):
                        ends.pop(message.partition(), None)
                tables["profiles"].bulk_insert(rows)
        finally:
            consumer.close()


def lookup(items: list[Item], ctx: Any) -> list[Any]:
    rows = ctx.stores["lookup"].table("profiles").get_many([item.key for item in items])
    return [work.join(item.payload, row) for item, row in zip(items, rows, strict=True)]


def aggregate(item: Item, ctx: Any) -> Any:
    """Running count and sum per key, one output per record."""
    total = work.aggregate_step(ctx.state.get(), item.payload)
    ctx.state.set(total)
    return total


def enrich(item: Item, _ctx: Any) -> Any:
    return work.enrich(item.payload)


def remember(items: list[Item], ctx: Any) -> list[Any]:
    table = ctx.stores["bench"].table("features")
    table.bulk_insert([(str(item.payload["n"]), item.payload) for item in items])
    return [item.payload for item in items]


def build(case: str, group: str, delivery: str, batch: int = LOCAL_BATCH) -> Pipe:
    """The pipe of ``case`` (pipe name = namespace = ``group``); ``batch`` is the
    local and router stages' batch size."""
    pipe = Pipe(group, partitions=4, delivery=delivery)  # type: ignore[arg-type]
    if case == "passthrough":
        pipe.local("s", enrich, batch_size=batch)
    elif case == "router":
        pipe.router("s", [(work.is_route(name), name) for name in work.ROUTES],
                    batch_size=batch)
        pipe.outputs(*work.ROUTES, headers=False)
    elif case == "compute":
        pipe.compute("s", "cases.model:predict_batch", batch_size=64, executor="processes",
                     processes=2, max_in_flight=4)
    elif case == "backlog":
        pipe.compute("s", "cases.model:slow_predict_batch", batch_size=64,
                     executor="processes", processes=2, max_in_flight=4)
    elif case == "restore":
        pipe.store("bench", BenchStore)
        pipe.local("s", batch_handler=remember, batch_size=batch)
    elif case == "aggregate":
        pipe.local("s", aggregate, batch_size=batch, state=["totals"])
    elif case == "lookup":
        pipe.store("lookup", LookupStore)
        pipe.local("s", batch_handler=lookup, batch_size=batch)
    elif case == "latency":
        pipe.local("s", enrich, batch_size=batch)
        pipe.local("s2", enrich, batch_size=batch)
        pipe.router("s3", [(work.is_route(name), name) for name in work.ROUTES],
                    batch_size=batch)
        pipe.outputs(*work.ROUTES, headers=False)
    else:
        raise SystemExit(f"slither_app: unknown case {case!r}")
    # What the harness reads is written as the peers write it: key and value only.
    pipe.output("default", headers=False)
    return pipe


def main() -> None:
    extra = argparse.ArgumentParser(add_help=False)
    extra.add_argument("--delivery", default="at_least_once",
                       choices=("at_least_once", "exactly_once"))
    extra.add_argument("--batch-size", type=int, default=LOCAL_BATCH)
    known, rest = extra.parse_known_args()
    options = cli.parse(rest)
    expected_input = f"{options.group}.s.in"
    if options.input != expected_input:
        raise SystemExit(f"slither_app: --input must be {expected_input!r} for namespace "
                         f"{options.group!r}, not {options.input!r}")
    if options.state_dir:
        os.makedirs(options.state_dir, exist_ok=True)
        os.chdir(options.state_dir)  # stores live in ./.slither-stores
    if known.batch_size < 1:
        raise SystemExit(f"slither_app: --batch-size must be >= 1, not {known.batch_size}")
    global TABLE_TOPIC, BOOTSTRAP
    TABLE_TOPIC, BOOTSTRAP = options.table, options.bootstrap
    definition = build(options.case, options.group, known.delivery,
                       known.batch_size).compile()
    # Text lines with times in the run's log file: start-up, restore progress and
    # "caught up" lines show where a run's time went.
    configure_logging("info", "text")
    log = open_log(f"kafka://{options.bootstrap}")
    worker = Worker(log, definition)
    signal.signal(signal.SIGTERM, lambda *_: worker.stop())
    try:
        worker.run()
    finally:
        log.close()


if __name__ == "__main__":
    main()
