"""A real Apache Kafka broker for the test session, from the first source that works.

Order (see ``broker_for_tests``):

1. ``SLITHER_KAFKA_BOOTSTRAP=host:port`` — a broker someone already runs.
2. A testcontainers ``apache/kafka`` container, when a Docker engine answers a ping
   (checked with a short timeout, so machines without Docker fall through at once;
   ``SLITHER_KAFKA_DOCKER=0`` skips the check).
3. ``docker/kafka-local``: Apache Kafka from Maven Central on a free port of
   127.0.0.1, in a temporary data dir, stopped when the session ends (and, through the
   script's ``--owner-pid`` watchdog, even when pytest is killed).

Never a fake and never a skip: if no broker can be had, the Kafka tests error with
the reason (for the local script, the broker log tail).

Other tests (fault injection, CLI) can run extra brokers with :func:`local_broker`.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
KAFKA_LOCAL = ROOT / "docker" / "kafka-local"
TEST_PROPERTIES = ROOT / "docker" / "kafka-test.properties"
KAFKA_IMAGE = "apache/kafka:4.1.1"
BOOTSTRAP_ENV = "SLITHER_KAFKA_BOOTSTRAP"
DOCKER_ENV = "SLITHER_KAFKA_DOCKER"
DOCKER_PING_TIMEOUT_S = 3
START_TIMEOUT_S = 180.0


class BrokerUnavailableError(RuntimeError):
    """No Kafka broker could be started; the message says why."""


@contextlib.contextmanager
def broker_for_tests() -> Iterator[str]:
    """Yield ``host:port`` of a running Apache Kafka broker; stop it afterwards."""
    configured = os.environ.get(BOOTSTRAP_ENV, "").strip()
    if configured:
        yield configured
        return
    if docker_engine_answers():
        with kafka_container() as bootstrap:
            yield bootstrap
        return
    with (tempfile.TemporaryDirectory(prefix="slither-kafka-") as data,
          local_broker(Path(data)) as bootstrap):
        yield bootstrap


# -- the project's own broker script -------------------------------------------------


def run_kafka_local(*args: str,
                    timeout: float = START_TIMEOUT_S) -> subprocess.CompletedProcess[str]:
    """Run ``docker/kafka-local`` with this interpreter (the script is stdlib-only)."""
    return subprocess.run([sys.executable, str(KAFKA_LOCAL), *args], capture_output=True,
                          text=True, timeout=timeout, check=False)


def start_local_broker(data: Path, *, port: int | None = None,
                       overrides: Mapping[str, str] | None = None,
                       owner_pid: int | None = None, fast_start: bool = False,
                       secure: bool = False) -> str:
    """Start a broker with its state in ``data``; return its bootstrap ``host:port``.

    ``fast_start`` (C1-only JIT) halves start-up on a busy machine but costs CPU for
    every record afterwards, so it suits brokers that live briefly and carry little
    traffic; the session broker and load-bearing brokers keep the full JIT.
    ``secure``: the SASL_SSL broker with ACLs (see ``tests/secure_kafka.py``).
    """
    args = ["start", "--data", str(data), "--owner-pid", str(owner_pid or os.getpid())]
    if fast_start:
        args.append("--fast-start")
    if secure:
        args.append("--secure")
    if port is not None:
        args += ["--port", str(port)]
    for key, value in (overrides or {}).items():
        args += ["--set", f"{key}={value}"]
    result = run_kafka_local(*args)
    if result.returncode != 0:
        raise BrokerUnavailableError(
            f"docker/kafka-local start failed (exit {result.returncode}):\n{result.stderr}"
        )
    return result.stdout.strip().splitlines()[-1]


def stop_local_broker(data: Path, *, kill: bool = False) -> None:
    """Stop the broker of ``data`` (SIGTERM, then SIGKILL); fine if it is not running.

    ``kill=True`` sends SIGKILL at once, a crash; ``start_local_broker(data)`` then
    restarts it on the same port with its data, as after a real broker failure.
    """
    result = run_kafka_local("stop", "--data", str(data), *(["--kill"] if kill else []),
                             timeout=60.0)
    if result.returncode != 0:
        raise BrokerUnavailableError(f"docker/kafka-local stop failed:\n{result.stderr}")


@contextlib.contextmanager
def local_broker(data: Path, *, port: int | None = None,
                 overrides: Mapping[str, str] | None = None, fast_start: bool = False,
                 kill: bool = False) -> Iterator[str]:
    """A broker run by ``docker/kafka-local`` for the duration of the block
    (``fast_start`` and ``kill`` as for :func:`start_local_broker` and
    :func:`stop_local_broker`)."""
    bootstrap = start_local_broker(data, port=port, overrides=overrides,
                                   fast_start=fast_start)
    try:
        yield bootstrap
    finally:
        stop_local_broker(data, kill=kill)


# -- Docker --------------------------------------------------------------------------


def docker_engine_answers() -> bool:
    """True when a Docker engine responds to a ping within a few seconds."""
    if os.environ.get(DOCKER_ENV, "").strip().lower() in {"0", "false", "no"}:
        return False
    if not os.environ.get("DOCKER_HOST") and not Path("/var/run/docker.sock").exists():
        return False
    try:
        import docker

        client = docker.from_env(timeout=DOCKER_PING_TIMEOUT_S)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:  # any failure to reach the engine means "no Docker here"
        return False


def container_environment(host: str, port: int) -> dict[str, str]:
    """KAFKA_* variables for the apache/kafka image: KRaft, one node, test settings."""
    env = {
        "KAFKA_NODE_ID": "1",
        "KAFKA_PROCESS_ROLES": "broker,controller",
        "KAFKA_CONTROLLER_QUORUM_VOTERS": "1@localhost:9093",
        "KAFKA_LISTENERS": "PLAINTEXT://0.0.0.0:9092,CONTROLLER://localhost:9093",
        "KAFKA_ADVERTISED_LISTENERS": f"PLAINTEXT://{host}:{port}",
        "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "KAFKA_CONTROLLER_LISTENER_NAMES": "CONTROLLER",
        "KAFKA_INTER_BROKER_LISTENER_NAME": "PLAINTEXT",
    }
    for key, value in read_properties(TEST_PROPERTIES).items():
        env["KAFKA_" + key.upper().replace(".", "_")] = value
    return env


def read_properties(path: Path) -> dict[str, str]:
    """``KEY=VALUE`` lines of a Java properties file (comments and blanks skipped)."""
    values = {}
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if line and not line.startswith(("#", "!")):
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values


@contextlib.contextmanager
def kafka_container() -> Iterator[str]:
    """An apache/kafka container whose client port is published on a fixed host port.

    The port is chosen before start so the broker can advertise exactly the address
    clients on the host will dial.
    """
    from testcontainers.core.container import DockerContainer
    from testcontainers.core.docker_client import DockerClient
    from testcontainers.core.wait_strategies import LogMessageWaitStrategy

    docker_host = os.environ.get("DOCKER_HOST", "")
    host = urlsplit(docker_host).hostname if docker_host.startswith("tcp://") else None
    host = host or DockerClient().host() or "127.0.0.1"
    if host == "localhost":
        host = "127.0.0.1"
    port = free_port()
    container = DockerContainer(KAFKA_IMAGE).with_bind_ports(9092, port)
    for key, value in container_environment(host, port).items():
        container.with_env(key, value)
    container.waiting_for(
        LogMessageWaitStrategy(re.compile(r"Kafka Server started")).with_startup_timeout(
            int(START_TIMEOUT_S)
        )
    )
    with container:
        yield f"{host}:{port}"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
