"""A consumer blocked in poll wakes as soon as a record is produced."""

from __future__ import annotations

import threading
import time

from slither_stream.errors import LogClosedError
from slither_stream.log import Record, TopicPartition
from slither_stream.log.embedded import EmbeddedLog


def test_blocked_poll_returns_on_produce(elog: EmbeddedLog) -> None:
    elog.create_topic("wake", 1)
    consumer = elog.consumer("g")
    consumer.assign([(TopicPartition("wake", 0), 0)])
    polling = threading.Event()
    result: dict[str, object] = {}

    def poll() -> None:
        polling.set()
        started = time.monotonic()
        result["records"] = consumer.poll_batch(10, timeout=20.0)
        result["returned_at"] = time.monotonic()
        result["waited"] = time.monotonic() - started

    thread = threading.Thread(target=poll, name="test-poller")
    thread.start()
    assert polling.wait(10)
    # give the poller no head start: produce from this thread right away
    produced_at = time.monotonic()
    elog.producer(linger_ms=0).send("wake", b"hello", b"k")
    thread.join(20)
    assert not thread.is_alive()
    records = result["records"]
    assert isinstance(records, list) and [r.value for r in records if isinstance(r, Record)] \
        == [b"hello"]
    assert isinstance(result["waited"], float) and result["waited"] < 5.0
    assert isinstance(result["returned_at"], float)
    assert result["returned_at"] - produced_at < 1.0


def test_poll_times_out_empty(elog: EmbeddedLog) -> None:
    elog.create_topic("quiet", 1)
    with elog.consumer("g") as consumer:
        consumer.assign([TopicPartition("quiet", 0)])
        started = time.monotonic()
        assert consumer.poll_batch(10, timeout=0.3) == []
        assert 0.25 <= time.monotonic() - started < 3


def test_blocked_poll_wakes_on_resume(elog: EmbeddedLog) -> None:
    elog.create_topic("paused", 1)
    tp = TopicPartition("paused", 0)
    elog.producer().send("paused", b"x", b"k")
    consumer = elog.consumer("g")
    consumer.assign([(tp, 0)])
    consumer.pause([tp])
    got: list[Record] = []
    polling = threading.Event()

    def poll() -> None:
        polling.set()
        got.extend(consumer.poll_batch(10, timeout=20.0))

    thread = threading.Thread(target=poll, name="test-poller")
    started = time.monotonic()
    thread.start()
    assert polling.wait(10)
    consumer.resume([tp])
    thread.join(20)
    assert [r.value for r in got] == [b"x"]
    assert time.monotonic() - started < 5


def test_blocked_poll_wakes_when_log_closes(elog: EmbeddedLog) -> None:
    elog.create_topic("closing", 1)
    consumer = elog.consumer("g")
    consumer.assign([TopicPartition("closing", 0)])
    errors: list[BaseException] = []
    polling = threading.Event()

    def poll() -> None:
        polling.set()
        try:
            consumer.poll_batch(10, timeout=20.0)
        except LogClosedError as error:
            errors.append(error)

    thread = threading.Thread(target=poll, name="test-poller")
    started = time.monotonic()
    thread.start()
    assert polling.wait(10)
    elog.close()
    thread.join(20)
    assert not thread.is_alive()
    assert time.monotonic() - started < 5
    assert len(errors) <= 1  # closed either before or during the poll; never a hang
