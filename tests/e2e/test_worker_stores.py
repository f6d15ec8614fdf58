"""Workers with stores: on Kafka the supervisor owns the feature store and two worker
processes read it through StoreReaders; on the embedded log one worker owns it."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from pathlib import Path

from slither_stream.item import Item
from slither_stream.log import Log, open_log
from slither_stream.pipe.definition import PipeDefinition
from slither_stream.pipe.deploy.runner import ensure_topics
from slither_stream.pipe.deploy.worker import Worker
from tests.e2e.test_topologies import DATA, expected_routes
from tests.e2e.test_workers import worker_process
from topologies.scoring import scoring

ROOT = Path(__file__).resolve().parents[2]
Names = Callable[[str], str]


def follow_outputs(log: Log, definition: PipeDefinition, wanted: int, *,
                   timeout: float = 120.0) -> dict[str, str]:
    """txn_id -> output name, following the output topics until ``wanted`` ids
    (decoded in each output's declared serde: Avro ScoredTransaction)."""
    topics = definition.output_topics
    by_topic = {topic: name for name, topic in topics.items()}
    decoders = {topic: definition.envelope(topic).serde for topic in topics.values()}
    consumer = log.consumer(f"follow-outputs-{time.monotonic_ns()}")
    seen: dict[str, str] = {}
    try:
        consumer.assign([(tp, 0) for topic in topics.values()
                         for tp in log.partitions_of(topic)])
        deadline = time.monotonic() + timeout
        while len(seen) < wanted:
            assert time.monotonic() < deadline, f"only {len(seen)} of {wanted} outputs"
            for record in consumer.poll_batch(500, 0.5):
                txn = decoders[record.topic].decode(record.value or b"")["txn_id"]
                seen[txn] = by_topic[record.topic]
    finally:
        consumer.close()
    return seen


def test_scoring_workers_read_the_feature_store(log_url: str, unique_name: Names,
                                                tmp_path: Path) -> None:
    namespace = unique_name("scoring-w")
    definition = scoring.compile().with_namespace(namespace)
    transactions = [json.loads(line) for line in
                    (DATA / "transactions.jsonl").read_text().splitlines()[:120]]
    envelope = definition.envelope(definition.input_topic)  # Avro Transaction
    kafka = log_url.startswith("kafka://")
    with open_log(log_url) as log:
        ensure_topics(log, definition)
        with log.producer() as producer:
            for txn in transactions:
                key, value, headers = envelope.encode(Item.wrap(txn, key=txn["user_id"]))
                producer.produce(definition.input_topic, value, key, headers=headers)
            producer.flush()
        if kafka:
            with worker_process(log_url, str(ROOT / "topologies" / "scoring.py"), namespace,
                                processes=2, cwd=tmp_path) as (_process, lines):
                lines.wait_for(r"supervisor owns stores features")
                got = follow_outputs(log, definition, len(transactions))
        else:
            worker = Worker(log, definition, store_dir=str(tmp_path / "stores"))
            thread = threading.Thread(target=worker.run, name="test-scoring-worker")
            thread.start()
            try:
                got = follow_outputs(log, definition, len(transactions))
            finally:
                worker.stop()
                thread.join()
    expected = expected_routes()
    assert got == {t["txn_id"]: expected[t["txn_id"]] for t in transactions}
