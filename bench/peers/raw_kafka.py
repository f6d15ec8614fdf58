"""The practical ceiling: a hand-written confluent-kafka consume -> produce loop.

No framework: ``consume(1000)`` batches, orjson decode, the case's function, produce
with the record's key, ``poll(0)`` to serve delivery callbacks, offsets auto-committed
by librdkafka (at-least-once-ish: the loop does not wait for acks before the commit).
Producer and fetch settings match slither's Kafka backend where they affect speed
(lz4, linger.ms=5, batch.size=1000000, idempotent; 4 MB per partition fetch, 32 MB
prefetch queue, fetch.queue.backoff.ms=10), so the gap to slither is the
framework's own work. Compute is per record (``predict_one``), like the peers.

Aggregate: a dict of running totals in memory (``work.aggregate_step`` per record):
no durable state, no changelog; the ceiling of any aggregate, not a peer's equal.

Lookup: the table topic is read into a dict first (the ceiling of any lookup); each
record is joined with ``dict.get(key)``. Latency: three consume -> produce loops in
three threads chained through the intermediate topics, ``linger.ms=5`` (0 and 1 ms
measured worse on a loaded 2-core broker: a produce request per record), each taking
what is fetched or else waiting for the first record only.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import orjson
from cases import args as cli
from cases import work
from confluent_kafka import Consumer, Producer, TopicPartition

FETCH = {"max.partition.fetch.bytes": 4 * 1024 * 1024, "queued.max.messages.kbytes": 32 * 1024,
         "fetch.queue.backoff.ms": 10}
"""slither's Kafka consumer fetch settings (see slither_stream/log/kafka/_config.py):
librdkafka's 1 s backoff after a full prefetch queue idles any fast consumer."""

SETTINGS = ("consume(1000, 0.2) batches; auto-commit 1 s; producer lz4, linger.ms=5, "
            "batch.size=1000000, idempotent; fetch 4 MB/partition, 32 MB queue, "
            "fetch.queue.backoff.ms=10 (as slither's backend); 1 process; "
            "aggregate: an in-memory dict, no durable state; "
            "lookup: table read into a dict "
            "first; latency: 3 loops in 3 threads, linger.ms=5")


def load_table(bootstrap: str, topic: str) -> dict[bytes, Any]:
    """Every row of the table topic, read to its end: key -> decoded value."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "bench-raw-load",
                         "enable.auto.commit": False, **FETCH})
    table: dict[bytes, Any] = {}
    try:
        metadata = consumer.list_topics(topic, timeout=30).topics[topic]
        ends = {}
        for partition in metadata.partitions:
            high = consumer.get_watermark_offsets(TopicPartition(topic, partition), 30)[1]
            if high > 0:
                ends[partition] = high
        consumer.assign([TopicPartition(topic, p, 0) for p in ends])
        while ends:
            for message in consumer.consume(10_000, 1.0):
                if message.error() is None:
                    table[message.key()] = orjson.loads(message.value())
                    if message.offset() + 1 >= ends.get(message.partition(), 0):
                        ends.pop(message.partition(), None)
    finally:
        consumer.close()
    return table


def hop(bootstrap: str, group: str, source: str, target: Callable[[Any], str],
        running: list[bool]) -> None:
    """One latency stage: consume ``source``, enrich, produce to ``target(payload)``."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"{group}-{source}",
                         "auto.offset.reset": "earliest", "enable.auto.commit": True,
                         "auto.commit.interval.ms": 1000, **FETCH})
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5,
                         "enable.idempotence": True})
    consumer.subscribe([source])
    try:
        while running[0]:
            batch = consumer.consume(1000, 0)
            if not batch:
                message = consumer.poll(0.1)
                batch = [] if message is None else [message]
            for message in batch:
                if message.error():
                    continue
                payload = work.enrich(orjson.loads(message.value()))
                producer.produce(target(payload), orjson.dumps(payload), message.key())
            producer.poll(0)
    finally:
        producer.flush(30)
        consumer.close()


def latency(options: cli.SystemArgs, running: list[bool]) -> None:
    """Three chained loops, one thread each; returns when SIGTERM stops them."""
    mid1, mid2 = cli.mid_topics(options.group)
    route_topic = dict(zip(work.ROUTES, options.outputs, strict=True))
    steps = [(options.input, lambda _p: mid1), (mid1, lambda _p: mid2),
             (mid2, lambda p: route_topic[work.route_of(p)])]
    threads = [threading.Thread(target=hop, name=f"raw-latency-{i}", daemon=True,
                                args=(options.bootstrap, options.group, source, target,
                                      running))
               for i, (source, target) in enumerate(steps)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def main() -> None:
    options = cli.parse()
    running = [True]
    signal.signal(signal.SIGTERM, lambda *_: running.__setitem__(0, False))
    if options.case == "latency":
        latency(options, running)
        return
    table = load_table(options.bootstrap, options.table) if options.case == "lookup" else {}
    consumer = Consumer({"bootstrap.servers": options.bootstrap, "group.id": options.group,
                         "auto.offset.reset": "earliest", "enable.auto.commit": True,
                         "auto.commit.interval.ms": 1000, **FETCH})
    producer = Producer({"bootstrap.servers": options.bootstrap, "compression.type": "lz4",
                         "linger.ms": 5, "batch.size": 1_000_000,
                         "enable.idempotence": True, "queue.buffering.max.messages": 1_000_000})
    consumer.subscribe([options.input])
    outputs = options.outputs
    route_topic = dict(zip(work.ROUTES, outputs, strict=False))
    transform: Callable[[Any], Any] = work.enrich
    if options.case == "compute":
        from cases import model
        transform = model.predict_one
    totals: dict[bytes, dict[str, int]] = {}
    """aggregate: key -> running total, in memory only."""
    try:
        while running[0]:
            for message in consumer.consume(1000, 0.2):
                if message.error():
                    continue
                if options.case == "lookup":
                    payload = work.join(orjson.loads(message.value()),
                                        table.get(message.key()))
                elif options.case == "aggregate":
                    key = message.key()
                    payload = totals[key] = work.aggregate_step(
                        totals.get(key), orjson.loads(message.value()))
                else:
                    payload = transform(orjson.loads(message.value()))
                topic = (route_topic[work.route_of(payload)] if options.case == "router"
                         else outputs[0])
                while True:
                    try:
                        producer.produce(topic, orjson.dumps(payload), message.key())
                        break
                    except BufferError:
                        producer.poll(0.05)
            producer.poll(0)
    finally:
        producer.flush(30)
        consumer.close()


if __name__ == "__main__":
    main()
