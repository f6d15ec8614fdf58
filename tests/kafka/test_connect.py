"""Opening a Kafka log fails fast and clearly when no broker answers."""

from __future__ import annotations

import socket
import time

import pytest

from slither_stream.errors import LogClosedError, LogError
from slither_stream.log import Log, open_log

pytestmark = pytest.mark.kafka


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_unreachable_broker_raises_log_error_within_the_connect_timeout() -> None:
    port = _free_port()
    started = time.monotonic()
    with pytest.raises(LogError, match=f"cannot reach Kafka at 127.0.0.1:{port}"):
        open_log(f"kafka://127.0.0.1:{port}", connect_timeout=1.5)
    assert time.monotonic() - started < 5.0


def test_open_log_reports_its_url(kafka_bootstrap: str) -> None:
    url = f"kafka://{kafka_bootstrap}"
    with open_log(url) as log:
        assert log.url == url


def test_a_closed_log_and_its_clients_refuse_work(kafka_log: Log) -> None:
    producer = kafka_log.producer()
    consumer = kafka_log.consumer("closed-log-group")
    kafka_log.close()
    with pytest.raises(LogClosedError):
        kafka_log.list_topics()
    with pytest.raises(LogClosedError):
        producer.produce("any-topic", b"x")
    with pytest.raises(LogClosedError):
        consumer.poll_batch(1, 0)
    kafka_log.close()  # idempotent
