"""docker/compose.yml: Apache Kafka plus one worker per stage group, kept consistent
with the image, the example topology and the other ways of running the broker."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.kafka_broker import KAFKA_IMAGE, KAFKA_LOCAL, ROOT

COMPOSE = ROOT / "docker" / "compose.yml"


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(loaded, dict)
    return loaded


def test_one_kafka_version_everywhere(compose: dict[str, Any]) -> None:
    image = compose["services"]["kafka"]["image"]
    assert image == KAFKA_IMAGE
    version = image.split(":")[1]
    assert f'DEFAULT_VERSION = "{version}"' in KAFKA_LOCAL.read_text()
    pom = (ROOT / "docker" / "kafka-broker.pom.xml").read_text()
    assert f"<kafka.version>{version}</kafka.version>" in pom


def test_kafka_is_kraft_and_published_on_loopback_only(compose: dict[str, Any]) -> None:
    kafka = compose["services"]["kafka"]
    env = kafka["environment"]
    assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
    assert all(str(port).startswith("127.0.0.1:") for port in kafka["ports"])
    listeners = dict(item.split("://") for item in env["KAFKA_ADVERTISED_LISTENERS"].split(","))
    assert listeners["HOST"] == "localhost:9092"
    assert "healthcheck" in kafka


def test_workers_run_every_stage_of_the_scoring_pipe(compose: dict[str, Any]) -> None:
    from slither_stream.pipe.loading import load_topology

    stages = [plan.name for plan in load_topology("topologies.scoring").compile().stages]
    kafka_env = compose["services"]["kafka"]["environment"]
    internal = re.search(r"INTERNAL://([^,]+)", kafka_env["KAFKA_ADVERTISED_LISTENERS"])
    assert internal is not None
    workers = {name: svc for name, svc in compose["services"].items()
               if name.startswith("worker-")}
    assert sorted(workers) == sorted(f"worker-{stage}" for stage in stages)
    for name, service in workers.items():
        command = service["command"]
        assert command[:2] == ["worker", "topologies.scoring"]
        assert command[2:] == ["--stage", name.removeprefix("worker-")]
        assert service["environment"]["SLITHER_LOG"] == f"kafka://{internal.group(1)}"
        assert service["depends_on"]["kafka"]["condition"] == "service_healthy"
        build = service["build"]
        context = (COMPOSE.parent / build["context"]).resolve()
        assert (context / build["dockerfile"]).is_file()
        assert (context / "pyproject.toml").is_file()
        assert "ports" not in service  # so --scale works


def test_docker_compose_accepts_the_file() -> None:
    docker = shutil.which("docker")
    if docker is None:
        pytest.skip("no docker client on this machine")
    probe = subprocess.run([docker, "compose", "version"], capture_output=True, text=True,
                           timeout=30, check=False)
    if probe.returncode != 0:
        pytest.skip("the docker client has no compose plugin")
    result = subprocess.run([docker, "compose", "-f", str(COMPOSE), "config", "-q"],
                            capture_output=True, text=True, timeout=60, check=False,
                            cwd=Path(ROOT))
    assert result.returncode == 0, result.stderr
