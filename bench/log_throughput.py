"""Log throughput: slither-stream's two backends beside the raw confluent-kafka client.

Run: ``.venv/bin/python bench/log_throughput.py [--records N] [--bootstrap HOST:PORT]``

In one run, on one machine and (for Kafka) one broker, it produces ``--records``
records of ``--size`` bytes (default 1,000,000 x 100 B) to a fresh topic and then
consumes them all, through:

* ``embedded``     - slither-stream's embedded log (RocksDB on local disk);
* ``kafka``        - slither-stream's Kafka backend (``KafkaLog``);
* ``raw-kafka``    - confluent-kafka ``Producer`` / ``Consumer`` used directly, with
  the same librdkafka settings as the Kafka backend (idempotent, murmur2, lz4,
  linger 5 ms, read_committed), so the gap is the backend's own overhead.

With ``--rounds R`` every backend runs R times (interleaved, so background load
hits all alike) and the table shows the median round. Produce time ends when every
record is acknowledged (``flush``); consume time ends
when the last record has been returned. Consumers read by partition assignment,
so group-join time is not measured. Values cycle through 1,024 random payloads, so
lz4 cannot shrink them. Without ``--bootstrap`` a broker is started with
``docker/kafka-local`` in a temporary directory and stopped at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from confluent_kafka import Consumer as RawConsumer  # noqa: E402
from confluent_kafka import Producer as RawProducer  # noqa: E402
from confluent_kafka import TopicPartition as RawTopicPartition  # noqa: E402

from slither_stream.log import Log, TopicPartition, open_log  # noqa: E402
from slither_stream.log.kafka._config import (  # noqa: E402
    CONSUMER_DEFAULTS,
    PRODUCER_DEFAULTS,
)

KAFKA_LOCAL = ROOT / "docker" / "kafka-local"
POLL_BATCH = 5_000
CONSUME_TIMEOUT_S = 120.0


@dataclass
class Result:
    backend: str
    records: int
    size: int
    produce_s: float
    consume_s: float

    def row(self) -> str:
        megabytes = self.records * self.size / 1e6
        return (f"{self.backend:<11} {self.records / self.produce_s:>14,.0f} "
                f"{megabytes / self.produce_s:>10.1f} {self.records / self.consume_s:>14,.0f} "
                f"{megabytes / self.consume_s:>10.1f}")


def median_result(runs: list[Result]) -> Result:
    """Median produce and consume times over rounds (each median taken separately)."""
    first = runs[0]
    return Result(first.backend, first.records, first.size,
                  statistics.median(r.produce_s for r in runs),
                  statistics.median(r.consume_s for r in runs))


def payloads(size: int) -> list[bytes]:
    return [os.urandom(size) for _ in range(1024)]


def timed(body: Callable[[], None]) -> float:
    started = time.perf_counter()
    body()
    return time.perf_counter() - started


# -- slither-stream backends --------------------------------------------------------


def bench_log(backend: str, log: Log, records: int, size: int, partitions: int) -> Result:
    """Produce and consume through the log interface (either backend)."""
    topic = f"bench-{uuid.uuid4().hex[:8]}"
    log.create_topic(topic, partitions)
    values = payloads(size)

    def produce() -> None:
        with log.producer() as producer:
            for i in range(records):
                producer.produce(topic, values[i & 1023])
            producer.flush()

    def consume() -> None:
        seen = 0
        deadline = time.monotonic() + CONSUME_TIMEOUT_S
        with log.consumer(f"bench-{uuid.uuid4().hex[:8]}") as consumer:
            consumer.assign([(TopicPartition(topic, p), 0) for p in range(partitions)])
            while seen < records:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{backend}: consumed {seen} of {records} records")
                seen += len(consumer.poll_batch(POLL_BATCH, 1.0))

    produce_s = timed(produce)
    consume_s = timed(consume)
    log.delete_topic(topic)
    return Result(backend, records, size, produce_s, consume_s)


# -- raw confluent-kafka ------------------------------------------------------------


def bench_raw(bootstrap: str, log: Log, records: int, size: int, partitions: int) -> Result:
    """The same work with confluent-kafka directly (topic admin through ``log``)."""
    topic = f"bench-raw-{uuid.uuid4().hex[:8]}"
    log.create_topic(topic, partitions)
    values = payloads(size)

    def produce() -> None:
        producer = RawProducer({"bootstrap.servers": bootstrap, **PRODUCER_DEFAULTS})
        for i in range(records):
            value = values[i & 1023]
            while True:
                try:
                    producer.produce(topic, value)
                    break
                except BufferError:
                    producer.poll(0.05)
            producer.poll(0)
        left = producer.flush(60)
        if left:
            raise RuntimeError(f"raw-kafka: {left} records unacknowledged")

    def consume() -> None:
        consumer = RawConsumer({"bootstrap.servers": bootstrap,
                                "group.id": f"bench-{uuid.uuid4().hex[:8]}",
                                "auto.offset.reset": "earliest", **CONSUMER_DEFAULTS})
        consumer.assign([RawTopicPartition(topic, p, 0) for p in range(partitions)])
        seen = 0
        deadline = time.monotonic() + CONSUME_TIMEOUT_S
        try:
            while seen < records:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"raw-kafka: consumed {seen} of {records} records")
                for message in consumer.consume(POLL_BATCH, 1.0):
                    if message.error() is None:
                        seen += 1
        finally:
            consumer.close()

    produce_s = timed(produce)
    consume_s = timed(consume)
    log.delete_topic(topic)
    return Result("raw-kafka", records, size, produce_s, consume_s)


# -- broker -------------------------------------------------------------------------


@contextlib.contextmanager
def broker(bootstrap: str | None) -> Iterator[str]:
    """The given broker, or one started with docker/kafka-local for this run."""
    if bootstrap:
        yield bootstrap
        return
    with tempfile.TemporaryDirectory(prefix="slither-bench-kafka-") as data:
        started = subprocess.run(
            [sys.executable, str(KAFKA_LOCAL), "start", "--data", data,
             "--owner-pid", str(os.getpid())],
            capture_output=True, text=True, timeout=300, check=False)
        if started.returncode != 0:
            raise SystemExit(f"could not start a Kafka broker with docker/kafka-local:\n"
                             f"{started.stderr.strip()}")
        address = started.stdout.strip().splitlines()[-1]
        try:
            yield address
        finally:
            subprocess.run([sys.executable, str(KAFKA_LOCAL), "stop", "--data", data],
                           capture_output=True, text=True, timeout=120, check=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--size", type=int, default=100, help="value bytes per record")
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--bootstrap", help="host:port of a running broker "
                        "(default: start one with docker/kafka-local)")
    parser.add_argument("--rounds", type=int, default=1,
                        help="runs per backend; the median is printed")
    parser.add_argument("--backends", default="embedded,kafka,raw-kafka",
                        help="comma-separated subset of embedded,kafka,raw-kafka")
    args = parser.parse_args()
    chosen = [name.strip() for name in args.backends.split(",") if name.strip()]
    unknown = set(chosen) - {"embedded", "kafka", "raw-kafka"}
    if unknown or min(args.records, args.size, args.partitions, args.rounds) < 1:
        parser.error(f"bad arguments (unknown backends: {sorted(unknown)})")

    rounds: dict[str, list[Result]] = {name: [] for name in chosen}
    shape = (args.records, args.size, args.partitions)
    with contextlib.ExitStack() as stack:
        embedded = kafka = None
        bootstrap = ""
        if "embedded" in chosen:
            path = stack.enter_context(tempfile.TemporaryDirectory(prefix="slither-bench-"))
            embedded = stack.enter_context(open_log(f"embedded://{path}"))
        if {"kafka", "raw-kafka"} & set(chosen):
            bootstrap = stack.enter_context(broker(args.bootstrap))
            kafka = stack.enter_context(open_log(f"kafka://{bootstrap}"))
            print(f"Kafka broker: {bootstrap}", file=sys.stderr)
            # An unreported warm-up run, so no measured client pays for the broker's
            # first segments, JIT compilation and coordinator loading.
            bench_raw(bootstrap, kafka, min(args.records, 20_000), args.size,
                      args.partitions)
        for number in range(args.rounds):
            for name in chosen:
                if name == "embedded" and embedded is not None:
                    result = bench_log("embedded", embedded, *shape)
                elif name == "kafka" and kafka is not None:
                    result = bench_log("kafka", kafka, *shape)
                elif kafka is not None:
                    result = bench_raw(bootstrap, kafka, *shape)
                rounds[name].append(result)
                print(f"round {number + 1}: {result.row()}", file=sys.stderr)
    results = [median_result(runs) for runs in rounds.values()]

    print(f"\n## Log throughput: {args.records:,} records x {args.size} B, "
          f"{args.partitions} partitions, one producer then one consumer, "
          f"median of {args.rounds} round(s)")
    print(f"{'backend':<11} {'produce rec/s':>14} {'MB/s':>10} {'consume rec/s':>14} "
          f"{'MB/s':>10}")
    for result in results:
        print(result.row())


if __name__ == "__main__":
    main()
