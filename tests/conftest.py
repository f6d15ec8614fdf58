"""Shared fixtures: one ``log`` fixture parametrized over both backends.

Contract tests take ``log`` (or ``log_url``) and run unchanged on the embedded log and
on a real Apache Kafka broker. The broker comes from ``SLITHER_KAFKA_BOOTSTRAP`` if
set, else a testcontainers Kafka container when a Docker engine answers, else the
project's own broker script (``docker/kafka-local``); see ``tests/kafka_broker.py``.
Kafka-backed parameters carry the ``kafka`` marker, so ``-m "not kafka"`` runs the
embedded half alone.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from slither_stream.log import Log, open_log

BACKENDS = ["embedded", pytest.param("kafka", marks=pytest.mark.kafka)]

SECURED = pytest.param("kafka-sasl-ssl", marks=[pytest.mark.kafka, pytest.mark.secure])
"""The Kafka backend over SASL_SSL with mutual TLS and ACLs, for the tests (modules
or classes) marked ``also_secured``: produce/consume, groups, transactions, admin."""


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    """``host:port`` of a running Apache Kafka broker for this test session."""
    from tests.kafka_broker import broker_for_tests

    with broker_for_tests() as bootstrap:
        yield bootstrap


@pytest.fixture(scope="session")
def schema_registry_url() -> Iterator[str]:
    """Confluent API URL of a real schema registry (Apicurio) for this test session."""
    from tests.registry_server import registry_for_tests

    with registry_for_tests() as url:
        yield url


@pytest.fixture(scope="session")
def registry_config(schema_registry_url: str) -> Any:
    """A RegistryConfig of the session registry, whose compatibility rule is set to
    BACKWARD (Apicurio's default is NONE)."""
    from slither_stream.serde import RegistryClient, RegistryConfig

    config = RegistryConfig(url=schema_registry_url, connect_timeout=5.0, outage_timeout=5.0)
    RegistryClient(config).set_compatibility("BACKWARD")
    return config


@pytest.fixture(scope="session")
def kafka_secure() -> Iterator[Any]:
    """The session's SASL_SSL broker (:class:`tests.secure_kafka.SecureKafka`),
    started the first time a test asks for it."""
    from tests.secure_kafka import secure_broker_for_tests

    with secure_broker_for_tests() as broker:
        yield broker


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """``backend`` runs over both backends, and over SASL_SSL too where marked."""
    chosen = any(marker.args and marker.args[0] == "backend"
                 for marker in metafunc.definition.iter_markers("parametrize"))
    if "backend" in metafunc.fixturenames and not chosen:  # a test may pick its own
        secured = metafunc.definition.get_closest_marker("also_secured") is not None
        metafunc.parametrize("backend", [*BACKENDS, *([SECURED] if secured else [])],
                             indirect=True)


@pytest.fixture
def backend(request: pytest.FixtureRequest) -> str:
    """The backend name of the current parameter: ``embedded``, ``kafka`` or
    ``kafka-sasl-ssl``."""
    return str(request.param)


@pytest.fixture
def log_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest,
            monkeypatch: pytest.MonkeyPatch) -> str:
    """A log URL for the current backend; embedded logs live in ``tmp_path``. On
    the secured broker the client settings (the contract user's properties file)
    come from ``$SLITHER_KAFKA_CONFIG``, as a deployment would give them: every log
    the test opens, in this process or a child, uses them."""
    if backend == "embedded":
        return f"embedded://{tmp_path / 'log'}"
    if backend == "kafka-sasl-ssl":
        from tests.secure_kafka import APP_USER

        broker = request.getfixturevalue("kafka_secure")
        monkeypatch.setenv("SLITHER_KAFKA_CONFIG", str(broker.properties(APP_USER)))
        return broker.url
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


# -- CI guard: Kafka tests must run, not skip ----------------------------------------
#
# With SLITHER_REQUIRE_KAFKA=1 (set by .ci/run) the session fails when any selected
# test marked ``kafka`` was skipped, or when none ran at all: a green CI run must mean
# the Kafka half of the suite really ran against a broker. SLITHER_KAFKA_REPORT=PATH
# writes the tally as JSON so the CI script can check it independently.

REQUIRE_KAFKA_ENV = "SLITHER_REQUIRE_KAFKA"
KAFKA_REPORT_ENV = "SLITHER_KAFKA_REPORT"


class _KafkaTally:
    """Which selected kafka-marked tests ran and which were skipped."""

    def __init__(self) -> None:
        self.selected: set[str] = set()
        self.executed: set[str] = set()
        self.skipped: dict[str, str] = {}

    def problems(self) -> list[str]:
        found = [f"kafka test skipped: {node} ({reason})"
                 for node, reason in sorted(self.skipped.items())]
        if not self.executed:
            found.append(f"no kafka-marked test ran ({len(self.selected)} selected)")
        return found


_kafka_tally = _KafkaTally()


def _kafka_required() -> bool:
    return os.environ.get(REQUIRE_KAFKA_ENV, "").strip().lower() not in {"", "0", "false", "no"}


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Tally kafka-marked tests from their reports. Reports carry the test's markers
    in ``keywords``, so this works the same in one process and in the controller of
    a ``pytest -n`` (xdist) run, which never collects the tests itself."""
    if "kafka" not in report.keywords:
        return
    if report.when == "setup":
        _kafka_tally.selected.add(report.nodeid)
    if report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(
            report.longrepr)
        _kafka_tally.skipped[report.nodeid] = reason
    elif report.when == "call":
        _kafka_tally.executed.add(report.nodeid)


def _xdist_worker(config: pytest.Config) -> bool:
    """True in a worker process of a ``pytest -n`` run: the controller reports."""
    return hasattr(config, "workerinput")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _xdist_worker(session.config):
        return
    report_path = os.environ.get(KAFKA_REPORT_ENV)
    if report_path:
        Path(report_path).write_text(json.dumps({
            "selected": len(_kafka_tally.selected),
            "executed": len(_kafka_tally.executed),
            "skipped": sorted(_kafka_tally.skipped),
        }))
    if _kafka_required() and _kafka_tally.problems():
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not _kafka_required() or _xdist_worker(terminalreporter.config):
        return
    problems = _kafka_tally.problems()
    if problems:
        terminalreporter.section("kafka tests required", sep="=", red=True, bold=True)
        for line in problems:
            terminalreporter.write_line(line)
    else:
        terminalreporter.write_line(
            f"kafka tests required: {len(_kafka_tally.executed)} ran, none skipped"
        )
