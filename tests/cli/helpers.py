"""Run the real ``slither`` console script as a subprocess, as users do."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parents[2]


def slither_executable() -> str:
    """The ``slither`` script installed next to this interpreter (the project venv)."""
    beside = Path(sys.executable).parent / "slither"
    if beside.exists():
        return str(beside)
    found = shutil.which("slither")
    if found is None:
        raise RuntimeError("the slither console script is not installed; run scripts/bootstrap")
    return found


def slither(*args: str, stdin: bytes | None = None, timeout: float = 90.0,
            env: dict[str, str] | None = None,
            cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``slither ARGS`` and return its exit code and output (text)."""
    full_env = dict(os.environ)
    full_env.pop("SLITHER_DEBUG", None)
    full_env["SLITHER_SCHEMAS"] = str(ROOT / "schemas")
    full_env.update(env or {})
    return subprocess.run([slither_executable(), *args], input=None if stdin is None
                          else stdin.decode(), capture_output=True, text=True,
                          timeout=timeout, env=full_env, cwd=cwd or ROOT, check=False)


def json_lines(text: str) -> list[Any]:
    return [orjson.loads(line) for line in text.splitlines() if line.strip()]


def assert_one_line_error(result: subprocess.CompletedProcess[str], code: int,
                          *fragments: str) -> None:
    """Non-zero ``code``, exactly one ``error:`` line on stderr, no traceback."""
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
