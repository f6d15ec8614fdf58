"""Static checks of docker/Dockerfile: what it copies exists, and its environment
names the options the CLI really reads (no Docker engine needed)."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import click

from slither_stream.observability import observability_options

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "docker" / "Dockerfile"


def instructions() -> list[tuple[str, str]]:
    """``(INSTRUCTION, arguments)`` with line continuations joined and comments dropped."""
    joined = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    result = []
    for line in joined.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            word, _, rest = stripped.partition(" ")
            result.append((word.upper(), rest.strip()))
    return result


def test_worker_image_is_python_311_slim_with_slither_entrypoint() -> None:
    steps = instructions()
    bases = [args for word, args in steps if word == "FROM"]
    args = dict(a.split("=", 1) for word, a in steps if word == "ARG" and "=" in a)
    assert args["PYTHON_VERSION"] == "3.11"
    assert all(base.startswith("python:${PYTHON_VERSION}-slim") for base in bases)
    (entrypoint,) = [a for word, a in steps if word == "ENTRYPOINT"]
    assert json.loads(entrypoint) == ["slither"]


def test_copied_sources_exist_in_the_build_context() -> None:
    for word, args in instructions():
        if word != "COPY" or "--from=" in args:
            continue
        parts = [p for p in shlex.split(args) if not p.startswith("--")]
        for source in parts[:-1]:
            assert (ROOT / source).exists(), f"COPY source {source!r} missing from the repo"


def test_environment_names_options_the_cli_reads() -> None:
    env: dict[str, str] = {}
    for word, args in instructions():
        if word == "ENV":
            for pair in shlex.split(args):
                name, _, value = pair.partition("=")
                env[name] = value

    @click.command()
    @observability_options
    def probe(**_: object) -> None:
        """Command used only to read the option declarations."""

    envvars = {param.envvar: param for param in probe.params if isinstance(param, click.Option)}
    for name in ("SLITHER_METRICS_HOST", "SLITHER_METRICS_PORT", "SLITHER_LOG_FORMAT",
                 "SLITHER_LOG_LEVEL"):
        assert name in env, f"Dockerfile does not set {name}"
        assert name in envvars, f"no CLI option reads {name}"
        # The image's default must be a value the option accepts.
        envvars[name].type.convert(env[name], envvars[name], None)
    assert env["SLITHER_METRICS_HOST"] == "0.0.0.0"
    assert env["SLITHER_LOG"].startswith("embedded:///data")


def test_prometheus_scrapes_the_port_the_image_serves_on() -> None:
    env = {}
    for word, args in instructions():
        if word == "ENV":
            env.update(pair.partition("=")[::2] for pair in shlex.split(args))
    scrape = (ROOT / "docker" / "grafana" / "prometheus.yml").read_text()
    ports = set(re.findall(r"^\s*port:\s*(\d+)\s*$", scrape, flags=re.MULTILINE))
    assert ports == {env["SLITHER_METRICS_PORT"]}
    exposed = [args for word, args in instructions() if word == "EXPOSE"]
    assert exposed == [env["SLITHER_METRICS_PORT"]]
