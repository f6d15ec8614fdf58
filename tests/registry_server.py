"""A real schema registry for the test session: Apicurio Registry's Confluent API.

Order (see ``registry_for_tests``):

1. ``SLITHER_SCHEMA_REGISTRY_TEST_URL=URL`` -- a registry someone already runs
   (Confluent's or Apicurio's Confluent-compatible API).
2. ``docker/registry-local``: Apicurio Registry 3.x from Maven Central on a free port of
   127.0.0.1, in a temporary data dir, stopped when the session ends (and, through the
   script's ``--owner-pid`` watchdog, even when pytest is killed).

Never a fake and never a skip: if no registry can be had, the tests that need one
error with the reason (the registry log tail). Tests that stop, restart or lock a
registry (faults, auth, TLS) run their own with :func:`local_registry`.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REGISTRY_LOCAL = ROOT / "docker" / "registry-local"
URL_ENV = "SLITHER_SCHEMA_REGISTRY_TEST_URL"
START_TIMEOUT_S = 180.0


class RegistryUnavailableError(RuntimeError):
    """No schema registry could be started; the message says why."""


def run_registry_local(*args: str,
                       timeout: float = START_TIMEOUT_S) -> subprocess.CompletedProcess[str]:
    """Run ``docker/registry-local`` with this interpreter (the script is stdlib-only)."""
    return subprocess.run([sys.executable, str(REGISTRY_LOCAL), *args], capture_output=True,
                          text=True, timeout=timeout, check=False)


def start_local_registry(data: Path, *, port: int | None = None, persist: bool = False,
                         user: str | None = None, tls: bool = False) -> str:
    """Start a registry with its state in ``data``; return its Confluent API URL."""
    args = ["start", "--data", str(data), "--owner-pid", str(os.getpid())]
    if port is not None:
        args += ["--port", str(port)]
    if persist:
        args.append("--persist")
    if user is not None:
        args += ["--user", user]
    if tls:
        args.append("--tls")
    result = run_registry_local(*args)
    if result.returncode != 0:
        raise RegistryUnavailableError(
            f"docker/registry-local start failed (exit {result.returncode}):\n{result.stderr}")
    return result.stdout.strip().splitlines()[-1]


def stop_local_registry(data: Path, *, kill: bool = False) -> None:
    """Stop the registry of ``data``; fine if it is not running."""
    result = run_registry_local("stop", "--data", str(data), *(["--kill"] if kill else []),
                                timeout=60.0)
    if result.returncode != 0:
        raise RegistryUnavailableError(f"docker/registry-local stop failed:\n{result.stderr}")


@contextlib.contextmanager
def local_registry(data: Path, **options: object) -> Iterator[str]:
    """A registry run by ``docker/registry-local`` for the duration of the block."""
    url = start_local_registry(data, **options)  # type: ignore[arg-type]
    try:
        yield url
    finally:
        stop_local_registry(data)


@contextlib.contextmanager
def registry_for_tests() -> Iterator[str]:
    """Yield the Confluent API URL of a running registry; stop it afterwards."""
    configured = os.environ.get(URL_ENV, "").strip()
    if configured:
        yield configured
        return
    with (tempfile.TemporaryDirectory(prefix="slither-registry-") as data,
          local_registry(Path(data)) as url):
        yield url
