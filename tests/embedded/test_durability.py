"""Everything acknowledged before ``kill -9`` is in the log after reopening."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

from slither_stream.log import TopicPartition
from slither_stream.log.embedded import EmbeddedLog
from tests.contract.helpers import read_all

CHILD = textwrap.dedent("""
    import sys
    from slither_stream.log.embedded import EmbeddedLog

    log = EmbeddedLog(sys.argv[1], linger_ms=2, batch_records=500)
    log.create_topic("events", 3)
    producer = log.producer()
    out = sys.stdout

    def acked(error, meta):
        if error is None:
            out.write(f"{meta.partition} {meta.offset}\\n")
            out.flush()

    print("ready", flush=True)
    for i in range(10_000_000):
        producer.produce("events", f"value-{i}".encode(), f"key-{i % 97}".encode(),
                         on_delivery=acked)
""")


def test_acknowledged_records_survive_sigkill(log_dir: Path,
                                              open_embedded: Callable[..., EmbeddedLog]) -> None:
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[2]))
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(log_dir)],
                             stdout=subprocess.PIPE, text=True, env=env)
    assert child.stdout is not None
    acked: list[tuple[int, int]] = []
    try:
        assert child.stdout.readline().strip() == "ready"
        deadline = time.monotonic() + 60
        while len(acked) < 20_000:
            assert time.monotonic() < deadline, f"only {len(acked)} acks before the deadline"
            line = child.stdout.readline()
            assert line, "the producer process died on its own"
            partition, offset = line.split()
            acked.append((int(partition), int(offset)))
        child.send_signal(signal.SIGKILL)
        # lines already written before the kill were acknowledged too
        for line in child.stdout:
            fields = line.split()
            if len(fields) == 2:
                acked.append((int(fields[0]), int(fields[1])))
    finally:
        child.kill()
        child.wait()
    assert child.returncode == -signal.SIGKILL

    log = open_embedded()  # the dead process's lock is gone
    partitions = log.partitions_of("events")
    ends = log.end_offsets(partitions)
    stored: set[tuple[int, int]] = set()
    with log.consumer("audit") as consumer:
        consumer.assign([(tp, 0) for tp in partitions])
        while any((consumer.position([tp])[tp] or 0) < ends[tp] for tp in partitions):
            for record in consumer.poll_batch(10_000, timeout=5):
                stored.add((record.partition, record.offset))
                assert record.value is not None and record.value.startswith(b"value-")
    missing = set(acked) - stored
    assert not missing, f"{len(missing)} acknowledged records lost, e.g. {sorted(missing)[:5]}"
    for partition in range(3):
        top = max((o for p, o in acked if p == partition), default=-1)
        assert ends[TopicPartition("events", partition)] >= top + 1
    # offsets are dense: nothing acknowledged sits after a hole
    assert len(stored) == sum(ends.values())

    # the reopened log keeps appending after the recovered end
    meta = log.producer().send("events", b"after", b"key-1")
    assert meta.offset == ends[TopicPartition("events", meta.partition)]


TXN_CHILD = textwrap.dedent("""
    import sys
    from slither_stream.log import TopicPartition
    from slither_stream.log.embedded import EmbeddedLog

    log = EmbeddedLog(sys.argv[1])
    log.create_topic("in", 1)
    log.create_topic("out", 2)
    consumer = log.consumer("stage")
    consumer.assign([TopicPartition("in", 0)])
    producer = log.producer(transactional_id="stage-0")
    print("ready", flush=True)
    for txn in range(1, 1_000_000):
        producer.begin_transaction()
        for i in range(50):
            producer.produce("out", f"{txn}:{i}".encode(), f"k{i}".encode())
        producer.send_offsets_to_transaction(consumer, {TopicPartition("in", 0): txn})
        producer.commit_transaction()
        print(txn, flush=True)
""")


def test_transactions_are_all_or_nothing_across_sigkill(
        log_dir: Path, open_embedded: Callable[..., EmbeddedLog]) -> None:
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[2]))
    child = subprocess.Popen([sys.executable, "-c", TXN_CHILD, str(log_dir)],
                             stdout=subprocess.PIPE, text=True, env=env)
    assert child.stdout is not None
    committed_before_kill = 0
    try:
        assert child.stdout.readline().strip() == "ready"
        while committed_before_kill < 200:
            line = child.stdout.readline()
            assert line, "the transactional process died on its own"
            committed_before_kill = int(line)
        child.send_signal(signal.SIGKILL)
    finally:
        child.kill()
        child.wait()

    log = open_embedded()
    offset = log.committed_offsets("stage", [TopicPartition("in", 0)])[TopicPartition("in", 0)]
    assert offset is not None and offset >= committed_before_kill
    per_txn: dict[int, int] = {}
    for record in read_all(log, "out"):
        txn = int((record.value or b"").split(b":")[0])
        per_txn[txn] = per_txn.get(txn, 0) + 1
    # exactly the transactions whose offsets committed, each with all 50 records
    assert sorted(per_txn) == list(range(1, offset + 1))
    assert set(per_txn.values()) == {50}
