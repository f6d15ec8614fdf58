"""The CI guard: with SLITHER_REQUIRE_KAFKA set, skipped or absent kafka tests fail."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CASES = "tests/infra/guard_cases.py"


def run_cases(tmp_path: Path, *tests: str,
              require: bool = True) -> tuple[int, str, dict[str, object]]:
    env = dict(os.environ)
    env.pop("SLITHER_REQUIRE_KAFKA", None)
    if require:
        env["SLITHER_REQUIRE_KAFKA"] = "1"
    report = tmp_path / "tally.json"
    env["SLITHER_KAFKA_REPORT"] = str(report)
    args = [f"{CASES}::{name}" for name in tests]
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False,
    )
    tally = json.loads(report.read_text()) if report.exists() else {}
    return result.returncode, result.stdout + result.stderr, tally


def test_passes_when_kafka_tests_ran(tmp_path: Path) -> None:
    code, output, tally = run_cases(tmp_path, "test_kafka_marked_runs", "test_not_kafka")
    assert code == 0, output
    assert tally == {"selected": 1, "executed": 1, "skipped": []}
    assert "kafka tests required: 1 ran, none skipped" in output


def test_fails_when_a_kafka_test_skips(tmp_path: Path) -> None:
    code, output, tally = run_cases(tmp_path, "test_kafka_marked_runs", "test_kafka_marked_skips")
    assert code == pytest.ExitCode.TESTS_FAILED, output
    assert tally["skipped"] == [f"{CASES}::test_kafka_marked_skips"]
    assert "kafka test skipped" in output and "pretend no broker" in output


def test_fails_when_no_kafka_test_ran(tmp_path: Path) -> None:
    code, output, tally = run_cases(tmp_path, "test_not_kafka")
    assert code == pytest.ExitCode.TESTS_FAILED, output
    assert tally["executed"] == 0
    assert "no kafka-marked test ran" in output


def test_skips_are_allowed_without_the_guard(tmp_path: Path) -> None:
    code, output, tally = run_cases(tmp_path, "test_kafka_marked_skips", require=False)
    assert code == 0, output
    assert tally["skipped"] == [f"{CASES}::test_kafka_marked_skips"]
