"""The Kafka test machinery: the session broker, docker/kafka-local, the fallbacks."""

from __future__ import annotations

import os
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


def round_trip(bootstrap: str, topic: str) -> list[bytes]:
    """Create ``topic``, produce three records, read them back with a group."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in admin.create_topics([NewTopic(topic, 2, 1)]).values():
        future.result(30)
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True})
    for i in range(3):
        producer.produce(topic, key=b"k", value=f"v{i}".encode())
    assert producer.flush(30) == 0
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": topic,
                         "auto.offset.reset": "earliest"})
    consumer.subscribe([topic])
    values: list[bytes] = []
    deadline = time.monotonic() + 60
    try:
        while len(values) < 3 and time.monotonic() < deadline:
            for message in consumer.consume(10, 1.0):
                assert message.error() is None, message.error()
                values.append(message.value())
    finally:
        consumer.close()
    return values


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
def test_kafka_local_start_status_stop(tmp_path: Path, kafka_bootstrap: str) -> None:
    data = tmp_path / "broker"
    bootstrap = start_local_broker(data, overrides={"log.cleaner.backoff.ms": "150"})
    try:
        host, port = bootstrap.split(":")
        assert host == "127.0.0.1" and bootstrap != kafka_bootstrap
        assert "log.cleaner.backoff.ms=150" in (data / "server.properties").read_text()
        status = run_kafka_local("status", "--data", str(data))
        assert status.returncode == 0 and f"bootstrap={bootstrap}" in status.stdout
        # Starting again is idempotent: same broker, same address.
        assert start_local_broker(data) == bootstrap
        assert round_trip(bootstrap, "second-broker") == [b"v0", b"v1", b"v2"]
        pid = int((data / "broker.pid").read_text())
    finally:
        stop_local_broker(data)
    assert process_gone(pid)
    status = run_kafka_local("status", "--data", str(data))
    assert status.returncode == 3 and "not running" in status.stdout
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", int(port))) != 0


@pytest.mark.kafka
def test_kafka_local_failed_start_shows_the_log(tmp_path: Path, kafka_bootstrap: str) -> None:
    taken = int(kafka_bootstrap.rsplit(":", 1)[1])  # the session broker holds this port
    result = run_kafka_local("start", "--data", str(tmp_path / "b"), "--port", str(taken),
                             "--timeout", "60")
    assert result.returncode == 1
    assert "Address already in use" in result.stderr
    assert not (tmp_path / "b" / "broker.pid").exists()


@pytest.mark.kafka
def test_owner_watchdog_stops_an_orphaned_broker(tmp_path: Path) -> None:
    owner = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"],
                             stdin=subprocess.PIPE)
    data = tmp_path / "orphan"
    try:
        start_local_broker(data, owner_pid=owner.pid)
        pid = int((data / "broker.pid").read_text())
        assert not process_gone(pid)
    finally:
        assert owner.stdin is not None
        owner.stdin.close()  # the owner exits; the watchdog must stop the broker
        owner.wait(10)
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    import select

    try:
        assert select.select([fd], [], [], 60)[0], "broker outlived its owner"
    finally:
        os.close(fd)
        stop_local_broker(data)


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


@pytest.mark.kafka
def test_killed_broker_restarts_on_the_same_address_with_its_data(tmp_path: Path) -> None:
    data = tmp_path / "crashy"
    bootstrap = start_local_broker(data)
    try:
        assert round_trip(bootstrap, "survivor") == [b"v0", b"v1", b"v2"]
        pid = int((data / "broker.pid").read_text())
        stop_local_broker(data, kill=True)
        assert process_gone(pid)
        assert run_kafka_local("status", "--data", str(data)).returncode == 3
        assert start_local_broker(data) == bootstrap  # same port: clients just reconnect
        consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "after-crash",
                             "auto.offset.reset": "earliest"})
        consumer.subscribe(["survivor"])
        values: list[bytes] = []
        deadline = time.monotonic() + 60
        try:
            while len(values) < 3 and time.monotonic() < deadline:
                values += [m.value() for m in consumer.consume(10, 1.0) if m.error() is None]
        finally:
            consumer.close()
        assert values == [b"v0", b"v1", b"v2"]
    finally:
        stop_local_broker(data)
