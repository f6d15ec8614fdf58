"""Pipes on the SASL_SSL broker: mutual TLS + SCRAM-SHA-512, ACLs, faults, secrets.

Each test is its own principal (a SCRAM user) whose rights are exactly the ACLs
:func:`slither_stream.pipe.access.required_access` lists for the pipe (what ``slither
describe --acls`` prints), minus whatever the test takes away; the session's super
user only creates users, ACLs and the input.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

import orjson
import pytest

from slither_stream.errors import AuthenticationError, AuthorizationError, ConfigError
from slither_stream.log import Log, open_log
from slither_stream.pipe.access import required_access
from slither_stream.pipe.definition import PipeDefinition
from slither_stream.pipe.deploy.runner import ensure_topics
from slither_stream.pipe.deploy.worker import Worker
from tests.e2e import secure_topology
from tests.e2e.helpers import read_topic, wait_for_records
from tests.e2e.test_workers import Lines, produce, worker_process
from tests.secure_kafka import SecureKafka
from tests.worker_thread import worker_thread

pytestmark = [pytest.mark.kafka, pytest.mark.secure]

ROOT = Path(__file__).resolve().parents[2]
TOPOLOGY = "tests/e2e/secure_topology.py"
Names = Callable[[str], str]


class Principal:
    """A user of the secured broker with its properties file: a SCRAM user, or with
    ``oauth`` the subject of an OAUTHBEARER token (no password at all)."""

    def __init__(self, broker: SecureKafka, name: str, *, oauth: bool = False) -> None:
        self.broker = broker
        self.name = name
        if oauth:
            self.password = ""
            self.properties = broker.oauth_properties(name)
            return
        self.password = f"pw-{uuid.uuid4().hex}"
        broker.add_user(name, self.password)
        self.properties = broker.properties(name)

    @property
    def principal(self) -> str:
        return f"User:{self.name}"

    def grant_pipe(self, definition: PipeDefinition, *, except_for: tuple[str, str, str]
                   | None = None) -> None:
        """Every ACL the pipe needs (as ``describe --acls`` lists them), but one."""
        for access in required_access(definition):
            if except_for == (access.resource_type, access.name, access.operation):
                continue
            if access.operation == "IDEMPOTENT_WRITE":
                continue  # Kafka 4: WRITE on a topic implies it (KIP-679)
            self.broker.grant(self.principal, access.resource_type, access.name,
                              [access.operation], pattern=access.pattern)

    def open(self) -> Log:
        return open_log(self.broker.url, kafka_config=self.properties)


@pytest.fixture
def secured(kafka_secure: SecureKafka) -> SecureKafka:
    return kafka_secure


def _definition(delivery: str, names: Names) -> PipeDefinition:
    pipe = secure_topology.eos_pipe if delivery == "exactly_once" else secure_topology.alos_pipe
    return pipe.compile().with_namespace(names("secured"))


def _prepare(broker: SecureKafka, definition: PipeDefinition, total: int) -> None:
    """As the super user: the pipe's topics, and ``total`` input items."""
    with open_log(broker.url, kafka_config=broker.admin_properties) as admin:
        ensure_topics(admin, definition)
        produce(admin, definition.input_topic, [{"n": n} for n in range(total)], keyed=True)


def _worker_thread(log: Log, definition: PipeDefinition) -> AbstractContextManager[Worker]:
    return worker_thread(Worker(log, definition, tune_gc=False), name="test-secure-worker")


def _cli_worker(principal: Principal, topology: str, namespace: str, *options: str,
                cwd: Path = ROOT) -> AbstractContextManager[tuple[subprocess.Popen[str], Lines]]:
    """``slither worker`` with the principal's ``--kafka-config`` (not the env's)."""
    return worker_process(principal.broker.url, topology, namespace, cwd=cwd,
                          options=["--kafka-config", str(principal.properties),
                                   "--max-restarts", "3", *options],
                          log_level="DEBUG", unset_env=["SLITHER_KAFKA_CONFIG"])


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize("delivery", ["at_least_once", "exactly_once"])
def test_pipe_runs_over_sasl_ssl_with_mtls_and_leaks_no_secret(
        secured: SecureKafka, unique_name: Names, delivery: str, tmp_path: Path) -> None:
    """``slither worker --kafka-config`` with exactly the ACLs ``describe --acls``
    lists: every item arrives once; and no secret appears in anything the run wrote
    (worker output at DEBUG, output and dead-letter records, metrics, describe)."""
    user = Principal(secured, unique_name("pipe"))
    # librdkafka's own debug output on top of DEBUG logging: the most it ever says
    user.properties = secured.properties(user.name, debug="security,broker,conf")
    definition = _definition(delivery, unique_name)
    user.grant_pipe(definition)
    total = 40
    _prepare(secured, definition, total)
    with open_log(secured.url, kafka_config=secured.admin_properties) as admin, \
            admin.producer() as raw:
        raw.send(definition.input_topic, b"{not json")  # a dead letter, with headers
    port = _free_port()
    attribute = "eos_pipe" if delivery == "exactly_once" else "alos_pipe"
    with _cli_worker(user, f"{ROOT / TOPOLOGY}:{attribute}", definition.namespace,
                     "--metrics-port", str(port), cwd=tmp_path) as (process, lines):
        with open_log(secured.url, kafka_config=secured.admin_properties) as admin:
            outputs = wait_for_records(admin, definition.output_topic("default"), total)
            dead = wait_for_records(admin, definition.stage("tag").dlq_topic, 1)
        metrics = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics",
                                         timeout=10).read().decode()
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0
        output = "".join(lines.rest())
    assert sorted(orjson.loads(r.value or b"")["n"] for r in outputs) == list(range(total))
    described = subprocess.run(
        [str(Path(sys.executable).parent / "slither"), "describe", f"{TOPOLOGY}:{attribute}",
         "--acls", "--kafka-config", str(user.properties)],
        cwd=ROOT, capture_output=True, text=True, check=True)
    assert f"principal {user.principal}" in described.stdout
    written = "\n".join([
        output, metrics, described.stdout, described.stderr,
        *(repr((r.key, r.value, r.headers)) for r in [*outputs, *dead]),
    ])
    key_password = secured.secrets()["client_key_password"]
    for secret in (user.password, key_password):
        assert secret not in written
        for path in tmp_path.rglob("*"):
            if path.is_file():
                assert secret.encode() not in path.read_bytes(), path
    assert "sasl.username" in output  # librdkafka's debug lines were there to grep


@pytest.mark.parametrize(("missing", "delivery"), [
    ("READ on input", "at_least_once"),
    ("WRITE on output", "at_least_once"),
    ("transactional id", "exactly_once"),
])
def test_missing_acl_halts_before_processing_and_resumes_once_granted(
        secured: SecureKafka, unique_name: Names, missing: str, delivery: str) -> None:
    """The worker stops with an error naming principal, resource and operation,
    commits nothing, and processes everything once the ACL is there."""
    user = Principal(secured, unique_name("acl"))
    definition = _definition(delivery, unique_name)
    plan = definition.stage("tag")
    withheld = {
        "READ on input": ("TOPIC", plan.input_topic, "READ"),
        "WRITE on output": ("TOPIC", definition.output_topic("default"), "WRITE"),
        "transactional id": ("TRANSACTIONAL_ID", f"{plan.group}.", "WRITE"),
    }[missing]
    user.grant_pipe(definition, except_for=withheld)
    total = 30
    _prepare(secured, definition, total)
    started = time.monotonic()
    with user.open() as log, pytest.raises(AuthorizationError) as caught:
        Worker(log, definition, tune_gc=False).run()
    assert time.monotonic() - started < 20
    error = caught.value
    assert error.principal == user.principal
    assert (error.resource_type, error.operation) == (withheld[0], withheld[2])
    assert withheld[1].rstrip(".") in error.resource
    assert user.principal in str(error) and withheld[2] in str(error)
    with open_log(secured.url, kafka_config=secured.admin_properties) as admin:
        partitions = admin.partitions_of(plan.input_topic)
        assert set(admin.committed_offsets(plan.group, partitions).values()) == {None}
        assert read_topic(admin, definition.output_topic("default")) == []
    secured.grant(user.principal, withheld[0], withheld[1], [withheld[2]],
                  pattern="PREFIXED" if withheld[0] == "TRANSACTIONAL_ID" else "LITERAL")
    with user.open() as log, _worker_thread(log, definition), \
            open_log(secured.url, kafka_config=secured.admin_properties) as admin:
        outputs = wait_for_records(admin, definition.output_topic("default"), total)
    assert sorted(orjson.loads(r.value or b"")["n"] for r in outputs) == list(range(total))


def test_wrong_password_fails_fast_without_retry_storm_and_rotation_applies_on_restart(
        secured: SecureKafka, unique_name: Names) -> None:
    """A worker with a wrong password exits non-zero within seconds, once (not
    restarted), with one error naming broker, mechanism and cause; a rotated
    password in the file works at the next start."""
    user = Principal(secured, unique_name("rotate"))
    definition = _definition("at_least_once", unique_name)
    user.grant_pipe(definition)
    _prepare(secured, definition, 5)
    good = user.properties
    user.properties = secured.properties(user.name, password="not-the-password")
    started = time.monotonic()
    with _cli_worker(user, f"{TOPOLOGY}:alos_pipe", definition.namespace) as (process, lines):
        code = process.wait(timeout=60)
        output = "".join(lines.rest())
    assert code != 0 and time.monotonic() - started < 30
    assert output.count("started worker slot 0") == 1, output
    assert "cannot authenticate to Kafka broker sasl_ssl://127.0.0.1:" in output
    assert "with SCRAM-SHA-512: the broker rejected the username or password" in output
    assert output.count("invalid credentials") <= 6, output  # a line or two, no storm
    assert "not-the-password" not in output
    # rotation: the broker gets a new password; the old file now fails, the new works
    rotated = f"rotated-{uuid.uuid4().hex}"
    secured.add_user(user.name, rotated)
    with pytest.raises(AuthenticationError):
        open_log(secured.url, kafka_config=good, connect_timeout=5)
    good.write_text(good.read_text().replace(user.password, rotated))
    with open_log(secured.url, kafka_config=good) as log:
        assert definition.input_topic in log.list_topics()


@pytest.mark.parametrize(("fault", "cause"), [
    ("untrusted CA", "the broker's certificate is not trusted"),
    ("rogue client certificate", "the broker rejected the client certificate"),
    ("wrong mechanism", "the broker does not accept this SASL mechanism"),
])
def test_tls_and_sasl_faults_are_clear_and_quick(
        secured: SecureKafka, unique_name: Names, fault: str, cause: str) -> None:
    user = Principal(secured, unique_name("fault"))
    files = secured.secure
    overrides = {
        "untrusted CA": {"ssl_ca_location": str(files / "rogue-ca.pem")},
        "rogue client certificate": {"ssl_certificate_location": str(files / "rogue-client.pem"),
                                     "ssl_key_location": str(files / "rogue-client.key")},
        "wrong mechanism": {"sasl_mechanism": "SCRAM-SHA-256"},
    }[fault]
    path = secured.properties(user.name, **overrides)
    started = time.monotonic()
    with pytest.raises(AuthenticationError) as caught:
        open_log(secured.url, kafka_config=path)
    assert time.monotonic() - started < 5
    error = caught.value
    assert error.broker == f"sasl_ssl://{secured.bootstrap}"
    assert error.mechanism == overrides.get("sasl_mechanism", "SCRAM-SHA-512")
    assert error.cause.startswith(cause)
    assert user.password not in str(error)


def test_expired_client_certificate_is_refused_before_connecting(
        secured: SecureKafka, unique_name: Names) -> None:
    user = Principal(secured, unique_name("expired"))
    path = secured.properties(user.name,
                              ssl_certificate_location=str(secured.secure / "expired-client.pem"),
                              ssl_key_location=str(secured.secure / "expired-client.key"))
    with pytest.raises(ConfigError, match=r"client certificate .*expired-client\.pem.* expired"):
        open_log(secured.url, kafka_config=path)


@pytest.mark.parametrize("delivery", ["at_least_once", "exactly_once"])
def test_a_pipe_runs_as_an_oauthbearer_principal_with_its_acls(
        secured: SecureKafka, unique_name: Names, delivery: str) -> None:
    """OAUTHBEARER (librdkafka's unsecured JWT, over mutual TLS): the token's subject
    is the principal the ACLs are for; without one of them the worker stops with an
    error naming it, and runs once it is granted."""
    name = unique_name("oauth")
    user = Principal(secured, name, oauth=True)
    definition = _definition(delivery, unique_name)
    output = definition.output_topic("default")
    user.grant_pipe(definition, except_for=("TOPIC", output, "WRITE"))
    total = 20
    _prepare(secured, definition, total)
    with user.open() as log, pytest.raises(AuthorizationError) as caught:
        Worker(log, definition, tune_gc=False).run()
    assert caught.value.principal == f"User:{name}"
    assert f"User:{name}" in str(caught.value)
    secured.grant(user.principal, "TOPIC", output, ["WRITE"])
    with user.open() as log, _worker_thread(log, definition), \
            open_log(secured.url, kafka_config=secured.admin_properties) as admin:
        outputs = wait_for_records(admin, output, total)
    assert sorted(orjson.loads(r.value or b"")["n"] for r in outputs) == list(range(total))
