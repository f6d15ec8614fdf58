"""The Kafka broker a benchmark run uses: given, or started for the run."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
KAFKA_LOCAL = ROOT / "docker" / "kafka-local"


@contextlib.contextmanager
def broker(bootstrap: str | None, *, heap: str = "1g") -> Iterator[str]:
    """Yield ``host:port``: ``bootstrap`` if given, else a ``docker/kafka-local``
    broker in a temporary directory, stopped when the block ends (and, through the
    script's owner-pid watchdog, if this process dies)."""
    if bootstrap:
        yield bootstrap
        return
    with tempfile.TemporaryDirectory(prefix="slither-bench-kafka-") as data:
        started = subprocess.run(
            [sys.executable, str(KAFKA_LOCAL), "start", "--data", data, "--heap", heap,
             "--owner-pid", str(os.getpid())],
            capture_output=True, text=True, timeout=300, check=False)
        if started.returncode != 0:
            raise SystemExit(f"docker/kafka-local start failed:\n{started.stderr[-3000:]}")
        try:
            yield started.stdout.strip().splitlines()[-1]
        finally:
            subprocess.run([sys.executable, str(KAFKA_LOCAL), "stop", "--data", data],
                           capture_output=True, text=True, timeout=120, check=False)
