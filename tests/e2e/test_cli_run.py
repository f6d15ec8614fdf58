"""``slither run``: the main job's command, as a user runs it, on both backends."""

from __future__ import annotations

import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

from tests.e2e.test_topologies import DATA, expected_routes

ROOT = Path(__file__).resolve().parents[2]


def test_slither_run_prints_counts_and_topics(log_url: str, tmp_path: Path) -> None:
    lines = (DATA / "transactions.jsonl").read_text().splitlines()[:60]
    source = tmp_path / "input.jsonl"
    source.write_text("\n".join([*lines[:30], '{"txn_id": "broken', *lines[30:]]) + "\n")
    done = subprocess.run(
        [str(Path(sys.executable).parent / "slither"), "run",
         str(ROOT / "topologies" / "scoring.py"), "--input", str(source), "--log", log_url,
         "--key-field", "user_id", "--timeout", "120"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    routes = expected_routes()
    want = Counter(routes[line.split('"txn_id": "')[1].split('"')[0]] for line in lines)
    for name in ("accept", "review", "reject"):
        found = re.search(rf"^\s+{name}\s+(\d+)\s+(\S+)$", out, re.MULTILINE)
        assert found, out
        assert int(found.group(1)) == want[name]
        assert found.group(2).endswith(f".out.{name}")
    dead = re.search(r"^\s+enrich\s+(\d+)\s+(\S+\.enrich\.dlq)$", out, re.MULTILINE)
    assert dead and dead.group(1) == "1", out  # the broken line, dead-lettered
    assert "61 inputs" in out


def test_slither_run_reports_bad_topology(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("from slither_stream.pipe import Pipe\n"
                   "p = Pipe('x').router('r', [(lambda i: True, 'nowhere')])\n")
    source = tmp_path / "in.jsonl"
    source.write_text("{}\n")
    done = subprocess.run(
        [str(Path(sys.executable).parent / "slither"), "run", str(bad), "--input", str(source),
         "--log", f"embedded://{tmp_path / 'log'}"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 2
    assert "undeclared output 'nowhere'" in done.stderr
