"""Shared fixtures: one ``log`` fixture parametrized over both backends.

Contract tests take ``log`` (or ``log_url``) and run unchanged on the embedded log and
on a real Apache Kafka broker. The broker comes from ``SLITHER_KAFKA_BOOTSTRAP`` if
set, else a testcontainers Kafka container when a Docker engine answers, else the
project's own broker script (``docker/kafka-local``); see ``tests/kafka_broker.py``.
Kafka-backed parameters carry the ``kafka`` marker, so ``-m "not kafka"`` runs the
embedded half alone.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from slither_stream.log import Log, open_log

BACKENDS = ["embedded", pytest.param("kafka", marks=pytest.mark.kafka)]


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    """``host:port`` of a running Apache Kafka broker for this test session."""
    from tests.kafka_broker import broker_for_tests

    with broker_for_tests() as bootstrap:
        yield bootstrap


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """The backend name of the current parameter: ``embedded`` or ``kafka``."""
    return str(request.param)


@pytest.fixture
def log_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """A log URL for the current backend; embedded logs live in ``tmp_path``."""
    if backend == "embedded":
        return f"embedded://{tmp_path / 'log'}"
    bootstrap = request.getfixturevalue("kafka_bootstrap")
    return f"kafka://{bootstrap}"


@pytest.fixture
def log(log_url: str) -> Iterator[Log]:
    """An open log on the current backend, closed after the test."""
    opened = open_log(log_url)
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture
def unique_name() -> Callable[[str], str]:
    """Make names unique per test, since the Kafka broker outlives each test."""
    suffix = uuid.uuid4().hex[:10]
    return lambda base: f"{base}-{suffix}"
