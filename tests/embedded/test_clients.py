"""Embedded producer and consumer behaviour beyond the shared contract."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

from slither_stream.errors import ConfigError, LogClosedError, ProduceError
from slither_stream.log import Record, TopicPartition, open_log
from slither_stream.log.embedded import EmbeddedLog
from tests.contract.helpers import consume_n, read_all


def test_options_are_validated(open_embedded: Callable[..., EmbeddedLog]) -> None:
    with pytest.raises(ConfigError, match="unknown embedded log option"):
        open_embedded(lingr_ms=5)
    with pytest.raises(ConfigError, match="batch_records"):
        open_embedded(batch_records=0)
    log = open_embedded(**{"enable.idempotence": "true"})  # Kafka names are ignored
    with pytest.raises(ConfigError, match="unknown embedded producer option"):
        log.producer(acks=1)
    with pytest.raises(ConfigError, match="unknown embedded consumer option"):
        log.consumer("g", max_poll=3)
    with pytest.raises(ConfigError, match="auto_offset_reset"):
        log.consumer("g", auto_offset_reset="middle")  # type: ignore[arg-type]


def test_open_log_passes_options(tmp_path: object) -> None:
    with open_log(f"embedded://{tmp_path}/x", linger_ms=0) as log:
        assert isinstance(log, EmbeddedLog)
        assert log.url == f"embedded://{tmp_path}/x"


def test_bad_record_arguments(elog: EmbeddedLog) -> None:
    elog.create_topic("t", 1)
    with elog.producer() as producer:
        with pytest.raises(ConfigError, match="bytes"):
            producer.produce("t", "text")  # type: ignore[arg-type]
        with pytest.raises(ConfigError, match="header"):
            producer.produce("t", b"v", headers=[("name", "text")])  # type: ignore[list-item]
        with pytest.raises(ConfigError, match="timestamp"):
            producer.produce("t", b"v", timestamp_ms=-5)


def test_consumer_argument_errors(elog: EmbeddedLog) -> None:
    elog.create_topic("t", 2)
    tp = TopicPartition("t", 0)
    with elog.consumer("g") as consumer:
        with pytest.raises(ConfigError, match="list of topic names"):
            consumer.subscribe("t")
        with pytest.raises(ConfigError, match="not assigned"):
            consumer.seek(tp, 0)
        with pytest.raises(ConfigError, match="max_records"):
            consumer.poll_batch(0)
        consumer.assign([tp])
        with pytest.raises(ConfigError, match="assign"):
            consumer.subscribe(["t"])
        with pytest.raises(ConfigError, match="offset"):
            consumer.seek(tp, -1)
        with pytest.raises(ConfigError, match="offset"):
            consumer.commit({tp: -3})


def test_keyless_batches_rotate_over_partitions(elog: EmbeddedLog) -> None:
    elog.create_topic("t", 3)
    with elog.producer(linger_ms=10_000) as producer:
        for batch in range(6):
            for i in range(10):
                producer.produce("t", f"{batch}-{i}".encode())
            producer.flush()
    records = read_all(elog, "t")
    assert len(records) == 60
    per_partition = {p: sum(1 for r in records if r.partition == p) for p in range(3)}
    assert per_partition == {0: 20, 1: 20, 2: 20}


def test_concurrent_producers_keep_their_own_order(elog: EmbeddedLog) -> None:
    elog.create_topic("t", 2)
    workers = 4
    each = 2000

    def produce(worker: int) -> None:
        with elog.producer(batch_records=128) as producer:
            for i in range(each):
                producer.produce("t", f"{worker}:{i}".encode(), f"w{worker}".encode())

    threads = [threading.Thread(target=produce, args=(w,), name=f"producer-{w}")
               for w in range(workers)]
    received: list[Record] = []
    with elog.consumer("g") as consumer:
        consumer.subscribe(["t"])
        reader = threading.Thread(
            target=lambda: received.extend(consume_n(consumer, workers * each, timeout=60)),
            name="reader")
        reader.start()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        reader.join()
    assert len(received) == workers * each
    by_worker: dict[int, list[int]] = {}
    for record in received:
        worker, seq = (record.value or b"").decode().split(":")
        by_worker.setdefault(int(worker), []).append(int(seq))
    assert all(seqs == list(range(each)) for seqs in by_worker.values())


def test_closed_clients_refuse_work(elog: EmbeddedLog) -> None:
    elog.create_topic("t", 1)
    producer = elog.producer()
    consumer = elog.consumer("g")
    producer.close()
    consumer.close()
    producer.close()  # idempotent
    consumer.close()
    with pytest.raises(LogClosedError):
        producer.produce("t", b"x")
    with pytest.raises(LogClosedError):
        consumer.poll_batch(1, timeout=0)


def test_log_close_flushes_producers(open_embedded: Callable[..., EmbeddedLog]) -> None:
    log = open_embedded(linger_ms=60_000)
    log.create_topic("t", 1)
    producer = log.producer()
    for i in range(5):
        producer.produce("t", str(i).encode())
    log.close()
    with pytest.raises(LogClosedError):
        producer.produce("t", b"late")
    again = open_embedded()
    assert [r.value for r in read_all(again, "t")] == [b"0", b"1", b"2", b"3", b"4"]


def test_flush_reports_records_of_a_deleted_topic(elog: EmbeddedLog) -> None:
    elog.create_topic("t", 1)
    with elog.producer(linger_ms=60_000) as producer:
        producer.produce("t", b"x")
        elog.delete_topic("t")
        with pytest.raises(ProduceError, match="unknown topic"):
            producer.flush()


def test_recreated_topic_starts_empty(elog: EmbeddedLog) -> None:
    elog.create_topic("t", 1)
    elog.producer().send("t", b"old")
    elog.delete_topic("t")
    elog.create_topic("t", 2)
    assert read_all(elog, "t") == []
    assert elog.producer().send("t", b"new", partition=0).offset == 0


def test_latest_reset_skips_existing_records(elog: EmbeddedLog) -> None:
    elog.create_topic("t", 1)
    elog.producer().send("t", b"before")
    with elog.consumer("g", auto_offset_reset="latest") as consumer:
        consumer.assign([TopicPartition("t", 0)])
        assert consumer.poll_batch(10, timeout=0.2) == []
        elog.producer().send("t", b"after")
        assert [r.value for r in consumer.poll_batch(10, timeout=5)] == [b"after"]
