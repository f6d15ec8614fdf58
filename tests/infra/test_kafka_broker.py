"""The Kafka test machinery: the session broker, docker/kafka-local, the fallbacks."""

from __future__ import annotations

import os
import select
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from tests import kafka_broker
from tests.kafka_broker import (
    KAFKA_LOCAL,
    broker_for_tests,
    container_environment,
    docker_engine_answers,
    run_kafka_local,
    start_local_broker,
    stop_local_broker,
)


def process_gone(pid: int) -> bool:
    """True when ``pid`` has exited (a zombie awaiting its reaper counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] in {"Z", "X"}


def consume_all(bootstrap: str, topic: str, group: str, count: int) -> list[bytes]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group,
                         "auto.offset.reset": "earliest"})
    consumer.subscribe([topic])
    values: list[bytes] = []
    deadline = time.monotonic() + 60
    try:
        while len(values) < count and time.monotonic() < deadline:
            for message in consumer.consume(10, 1.0):
                assert message.error() is None, message.error()
                values.append(message.value())
    finally:
        consumer.close()
    return values


def round_trip(bootstrap: str, topic: str) -> list[bytes]:
    """Create ``topic``, produce three records, read them back with a group."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in admin.create_topics([NewTopic(topic, 2, 1)]).values():
        future.result(30)
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True})
    for i in range(3):
        producer.produce(topic, key=b"k", value=f"v{i}".encode())
    assert producer.flush(30) == 0
    return consume_all(bootstrap, topic, topic, 3)


@pytest.mark.kafka
def test_session_broker_is_a_working_kafka(kafka_bootstrap: str,
                                           unique_name: Callable[[str], str]) -> None:
    topic = unique_name("infra-roundtrip")
    assert round_trip(kafka_bootstrap, topic) == [b"v0", b"v1", b"v2"]
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    assert len(admin.list_topics(topic, timeout=10).topics[topic].partitions) == 2


@pytest.mark.kafka
def test_session_broker_refuses_auto_created_topics(kafka_bootstrap: str,
                                                    unique_name: Callable[[str], str]) -> None:
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    topic = unique_name("never-created")
    metadata = admin.list_topics(topic, timeout=10)
    assert metadata.topics[topic].error is not None  # UNKNOWN_TOPIC_OR_PART, not created
    assert topic not in admin.list_topics(timeout=10).topics


@pytest.mark.kafka
def test_kafka_local_failed_start_shows_the_log(tmp_path: Path, kafka_bootstrap: str) -> None:
    taken = int(kafka_bootstrap.rsplit(":", 1)[1])  # the session broker holds this port
    result = run_kafka_local("start", "--fast-start", "--data", str(tmp_path / "b"),
                             "--port", str(taken), "--timeout", "60")
    assert result.returncode == 1
    assert "Address already in use" in result.stderr
    assert not (tmp_path / "b" / "broker.pid").exists()


@pytest.mark.kafka
def test_kafka_local_lifecycle(tmp_path: Path, kafka_bootstrap: str) -> None:
    """start / status / idempotent start / crash / restart / owner exit, on one broker.

    One test, so the suite pays for two broker starts instead of five.
    """
    owner = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"],
                             stdin=subprocess.PIPE)
    data = tmp_path / "broker"
    try:
        bootstrap = start_local_broker(data, overrides={"log.cleaner.backoff.ms": "150"},
                                       owner_pid=owner.pid, fast_start=True)
        assert bootstrap.startswith("127.0.0.1:") and bootstrap != kafka_bootstrap
        assert "log.cleaner.backoff.ms=150" in (data / "server.properties").read_text()
        status = run_kafka_local("status", "--data", str(data))
        assert status.returncode == 0 and f"bootstrap={bootstrap}" in status.stdout
        assert start_local_broker(data) == bootstrap  # idempotent: same broker
        assert round_trip(bootstrap, "survivor") == [b"v0", b"v1", b"v2"]

        # A crash (SIGKILL) keeps the data; a restart comes back on the same address.
        crashed = int((data / "broker.pid").read_text())
        stop_local_broker(data, kill=True)
        assert process_gone(crashed)
        status = run_kafka_local("status", "--data", str(data))
        assert status.returncode == 3 and "not running" in status.stdout
        assert start_local_broker(data, owner_pid=owner.pid, fast_start=True) == bootstrap
        assert consume_all(bootstrap, "survivor", "after-crash", 3) == [b"v0", b"v1", b"v2"]
        restarted = int((data / "broker.pid").read_text())
    finally:
        assert owner.stdin is not None
        owner.stdin.close()  # the owner exits: its watchdog must stop the broker
        owner.wait(10)
    try:
        assert wait_gone(restarted, 60), "broker outlived its owner"
        port = int(bootstrap.rsplit(":", 1)[1])
        with socket.socket() as probe:
            assert probe.connect_ex(("127.0.0.1", port)) != 0
    finally:
        stop_local_broker(data)


def wait_gone(pid: int, timeout: float) -> bool:
    """Block until ``pid`` exits (pidfd), at most ``timeout`` seconds."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        return bool(select.select([fd], [], [], timeout)[0])
    finally:
        os.close(fd)


def test_kafka_local_rejects_bad_arguments(tmp_path: Path) -> None:
    result = run_kafka_local("start", "--data", str(tmp_path), "--port", "70000")
    assert result.returncode == 1
    assert "--port must be 1..65535" in result.stderr
    result = run_kafka_local("start", "--data", str(tmp_path), "--set", "nonsense")
    assert result.returncode == 1 and "KEY=VALUE" in result.stderr
    assert os.access(KAFKA_LOCAL, os.X_OK)
    assert "fetch" in run_kafka_local("--help").stdout


def test_configured_bootstrap_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLITHER_KAFKA_BOOTSTRAP", "broker.example:9092")
    monkeypatch.setattr(kafka_broker, "docker_engine_answers",
                        lambda: pytest.fail("must not look for Docker"))
    with broker_for_tests() as bootstrap:
        assert bootstrap == "broker.example:9092"


def test_missing_docker_engine_is_detected_fast(monkeypatch: pytest.MonkeyPatch,
                                               tmp_path: Path) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path / 'no-such.sock'}")
    started = time.monotonic()
    assert docker_engine_answers() is False
    assert time.monotonic() - started < 5
    monkeypatch.setenv("SLITHER_KAFKA_DOCKER", "0")
    assert docker_engine_answers() is False


def test_container_gets_the_same_test_settings_as_the_local_broker() -> None:
    env = container_environment("127.0.0.1", 40123)
    assert env["KAFKA_ADVERTISED_LISTENERS"] == "PLAINTEXT://127.0.0.1:40123"
    assert env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
    assert env["KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS"] == "0"
    assert env["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"] == "1"
    assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
