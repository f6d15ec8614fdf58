"""The practical ceiling: a hand-written confluent-kafka consume -> produce loop.

No framework: ``consume(1000)`` batches, orjson decode, the case's function, produce
with the record's key, ``poll(0)`` to serve delivery callbacks, offsets auto-committed
by librdkafka (at-least-once-ish: the loop does not wait for acks before the commit).
Producer settings match slither's Kafka backend where they affect speed (lz4,
linger.ms=5, batch.size=1000000, idempotent), so the gap to slither is the
framework's own work. Compute is per record (``predict_one``), like the peers.
"""

from __future__ import annotations

import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import orjson
from cases import args as cli
from cases import work
from confluent_kafka import Consumer, Producer

SETTINGS = ("consume(1000, 0.2) batches; auto-commit 1 s; producer lz4, linger.ms=5, "
            "batch.size=1000000, idempotent; 1 process")


def main() -> None:
    options = cli.parse()
    running = [True]
    signal.signal(signal.SIGTERM, lambda *_: running.__setitem__(0, False))
    consumer = Consumer({"bootstrap.servers": options.bootstrap, "group.id": options.group,
                         "auto.offset.reset": "earliest", "enable.auto.commit": True,
                         "auto.commit.interval.ms": 1000})
    producer = Producer({"bootstrap.servers": options.bootstrap, "compression.type": "lz4",
                         "linger.ms": 5, "batch.size": 1_000_000,
                         "enable.idempotence": True, "queue.buffering.max.messages": 1_000_000})
    consumer.subscribe([options.input])
    outputs = options.outputs
    route_topic = dict(zip(work.ROUTES, outputs, strict=False))
    if options.case == "compute":
        from cases import model
        transform = model.predict_one
    else:
        transform = work.enrich
    try:
        while running[0]:
            for message in consumer.consume(1000, 0.2):
                if message.error():
                    continue
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
