"""Per-record CPU of slither's passthrough stage against the raw loop, no broker traffic.

Run: ``.venv/bin/python bench/stage_overhead.py [--rounds 200] [--bootstrap HOST:PORT]``

Both sides get the same prebuilt confluent-kafka ``Message`` objects (1,000 per
batch, the passthrough case's ~180-byte JSON records) instead of fetched ones, and
produce to a producer aimed at a port nothing listens on (its queue only grows), so
neither the broker nor the network takes part: what is left is the work each does
on its own thread per record. slither runs its real stage code (``KafkaConsumer``
conversion, envelope, ``BatchWrites``, ``KafkaProducer.produce_many``, offset
tracking) with only the librdkafka consumer swapped for the prebuilt batches; the
raw side is the ``raw-kafka`` peer's loop (``loads``, the case's function,
``dumps``, ``produce``). Prints thread CPU per record, min and median of the
repetitions, side by side. The broker (started unless ``--bootstrap``) only answers
topic metadata.

CPU time on a shared VM varies by tens of percent from minute to minute; for counts
that do not, run one side a fixed number of rounds under callgrind and compare
two round counts (the difference is per-round work only)::

    valgrind --tool=callgrind --separate-threads=yes --callgrind-out-file=cg.10 \\
        .venv/bin/python bench/stage_overhead.py --only slither --rounds 10 --bootstrap B
    (again with --rounds 30 and cg.30; then (total of cg.30-01 - cg.10-01) / 20,000)
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
sys.path.insert(1, str(BENCH.parent))

import orjson  # noqa: E402
from cases import work  # noqa: E402
from confluent_kafka import Message  # noqa: E402
from confluent_kafka import Producer as RawProducer  # noqa: E402
from harness.broker import broker  # noqa: E402
from peers.slither_app import LOCAL_BATCH, build  # noqa: E402

from slither_stream.log import Log, open_log  # noqa: E402
from slither_stream.log.kafka.consumer import KafkaConsumer  # noqa: E402
from slither_stream.pipe.definition import PipeDefinition  # noqa: E402
from slither_stream.pipe.deploy import gc_policy  # noqa: E402
from slither_stream.pipe.deploy.runner import ensure_topics  # noqa: E402
from slither_stream.pipe.engine.loop import StageLoop  # noqa: E402
from slither_stream.pipe.engine.offsets import OffsetTracker  # noqa: E402
from slither_stream.pipe.engine.processors import processor_for  # noqa: E402

PREBUILT = 60
"""Distinct batches built up front (reused in turn, with the offset tracker reset)."""

NOWHERE = {"bootstrap.servers": "127.0.0.1:9", "log_level": 0,
           "queue.buffering.max.messages": 10_000_000,
           "queue.buffering.max.kbytes": 2_000_000}
"""Producer settings that queue every write and send none."""


class PrebuiltBatches:
    """Stands in for librdkafka's consumer: ``consume`` returns the next batch."""

    def __init__(self, topic: str) -> None:
        now = int(time.time() * 1000)
        values = [orjson.dumps(work.record(i, now)) for i in range(LOCAL_BATCH)]
        keys = [work.key_of(i) for i in range(LOCAL_BATCH)]
        per_partition = LOCAL_BATCH // 4
        self.batches = [
            [Message(topic=topic, partition=i % 4, offset=r * per_partition + i // 4,
                     key=keys[i], value=values[i], headers=None, timestamp=(1, now))
             for i in range(LOCAL_BATCH)]
            for r in range(PREBUILT)]
        self.served = 0

    def consume(self, _count: int, _timeout: float) -> list[Message]:
        batch = self.batches[self.served % PREBUILT]
        self.served += 1
        return batch

    def close(self) -> None:
        return None


def slither_round(log: Log, definition: PipeDefinition) -> Callable[[], None]:
    """One batch through the stage: poll, decode, process, produce, track offsets."""
    runtime = StageLoop(log, definition, "s", commit_interval=1e9, commit_records=10**9)
    processor = processor_for(runtime.plan)
    runtime._processor = processor
    runtime._one_at_a_time = processor.one_at_a_time(runtime.context)
    runtime._producer = log.producer(delivery_reports="errors", config=NOWHERE)
    consumer = log.consumer(runtime.plan.group)
    assert isinstance(consumer, KafkaConsumer)
    consumer._consumer.close()
    source = PrebuiltBatches(definition.input_topic)
    consumer._consumer = source  # type: ignore[assignment]
    consumer._only_topic = definition.input_topic  # what subscribe() sets
    runtime._consumer = consumer

    def one_round() -> None:
        if source.served % PREBUILT == 0:  # the offsets start over with the batches
            runtime.commits.tracker = OffsetTracker()
        runtime._handle(consumer.poll_records(LOCAL_BATCH, 0.1))

    return one_round


def raw_round(topic: str) -> Callable[[], None]:
    """One batch through the raw-kafka peer's loop."""
    producer = RawProducer({**NOWHERE, "linger.ms": 5, "compression.type": "lz4",
                            "enable.idempotence": True})
    source = PrebuiltBatches(topic)
    loads, dumps, enrich = orjson.loads, orjson.dumps, work.enrich

    def one_round() -> None:
        for message in source.consume(LOCAL_BATCH, 0.2):
            if message.error():
                continue
            value = message.value()  # never None here: the batches are built above
            producer.produce(topic, dumps(enrich(loads(value))), message.key())  # type: ignore[arg-type]
        producer.poll(0)

    return one_round


def per_record_cpu(one_round: Callable[[], None], rounds: int, repeat: int) -> list[float]:
    """Thread CPU µs per record of ``rounds`` rounds, ``repeat`` times (after one
    warm-up pass)."""
    for _ in range(rounds):
        one_round()
    figures = []
    for _ in range(repeat):
        started = time.thread_time()
        for _ in range(rounds):
            one_round()
        figures.append((time.thread_time() - started) / (rounds * LOCAL_BATCH) * 1e6)
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=200,
                        help="batches of 1,000 records per repetition (default 200)")
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--only", choices=("slither", "raw"), default=None,
                        help="run one side --rounds batches, untimed (for callgrind)")
    parser.add_argument("--bootstrap", default=None)
    args = parser.parse_args()
    definition = build("passthrough", f"overhead_{uuid.uuid4().hex[:6]}", "at_least_once",
                       LOCAL_BATCH).compile()
    with broker(args.bootstrap) as bootstrap:
        log = open_log(f"kafka://{bootstrap}")
        ensure_topics(log, definition)
        gc_policy.tune_for_stages()  # as a worker process does
        sides: dict[str, Callable[[], Callable[[], None]]] = {
            "raw": lambda: raw_round(definition.input_topic),
            "slither": lambda: slither_round(log, definition),
        }
        if args.only is not None:
            one_round = sides[args.only]()
            for _ in range(args.rounds):
                one_round()
            os._exit(0)  # the producers' queues hold every write: skip their teardown
        results: dict[str, Any] = {}
        for name, make in sides.items():
            results[name] = per_record_cpu(make(), args.rounds, args.repeat)
        print(f"passthrough: thread CPU per record, {args.rounds:,} batches of "
              f"{LOCAL_BATCH:,} x {args.repeat} (no broker traffic)")
        for name, figures in results.items():
            print(f"  {name:8s} min {min(figures):6.2f} us  median "
                  f"{statistics.median(figures):6.2f} us")
        ratio = min(results["raw"]) / min(results["slither"])
        print(f"  slither's per-record work is {1 / ratio:.2f}x the raw loop's "
              f"(a thread-bound stage runs at about {ratio:.2f}x its rate)")
        sys.stdout.flush()
        os._exit(0)  # as above
    return 0


if __name__ == "__main__":
    sys.exit(main())
