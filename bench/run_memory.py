"""Peak memory of the main job: ``slither run`` of the scoring pipe over N lines.

Run: ``.venv/bin/python bench/run_memory.py [--lines N]`` (default 5,000,000)

Generates N transactions of the shipped users (``topologies/data/features.csv``, so
every line is scored and none dead-lettered), runs ``slither run
topologies/scoring.py --input FILE --key-field user_id`` on a fresh embedded log in
a temporary directory, as the main job does, and prints the command's peak RSS (the
``ru_maxrss`` of a wrapper process whose only child is the command), its wall time
and the outputs it counted, which must add up to N. The result is also written to
``bench/results/run-memory-<timestamp>.json``.

:func:`measure` is what ``tests/e2e/test_run_memory.py`` calls on smaller inputs.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
SLITHER = Path(sys.executable).parent / "slither"
TOPOLOGY = ROOT / "topologies" / "scoring.py"
FEATURES = ROOT / "topologies" / "data" / "features.csv"

_WRAPPER = """
import resource, subprocess, sys
done = subprocess.run(sys.argv[1:], capture_output=True, text=True)
sys.stderr.write(done.stderr)
sys.stdout.write(done.stdout)
print("MAXRSS_KB", resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
sys.exit(done.returncode)
"""


@dataclass
class Measured:
    lines: int
    max_rss_mb: float
    seconds: float
    outputs: dict[str, int]

    @property
    def rate(self) -> float:
        return self.lines / self.seconds


def generate(path: Path, lines: int) -> None:
    """``lines`` transactions of the users the feature store knows (deterministic)."""
    import orjson

    with FEATURES.open() as handle:
        users = [row["user_id"] for row in csv.DictReader(handle)]
    rng = random.Random(22)
    with path.open("wb") as out:
        for i in range(lines):
            out.write(orjson.dumps({"txn_id": f"t{i:08d}", "user_id": rng.choice(users),
                                    "amount": round(rng.uniform(1, 500), 2),
                                    "hour": rng.randrange(24)}) + b"\n")


def measure(lines: int, work: Path, *, timeout: float | None = None) -> Measured:
    """Run ``slither run`` of the scoring pipe over ``lines`` generated lines in
    ``work``; its peak RSS, wall time and output counts."""
    work.mkdir(parents=True, exist_ok=True)
    source = work / f"transactions-{lines}.jsonl"
    generate(source, lines)
    command = [sys.executable, "-c", _WRAPPER, str(SLITHER), "run", str(TOPOLOGY),
               "--input", str(source), "--key-field", "user_id",
               "--log", f"embedded://{work / f'log-{lines}'}"]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, cwd=work,
                          timeout=timeout, check=False)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"slither run failed ({done.returncode}):\n{done.stderr[-3000:]}")
    found = re.search(r"MAXRSS_KB (\d+)", done.stdout)
    assert found is not None, done.stdout
    outputs = {name: int(count) for name, count in
               re.findall(r"^  (accept|review|reject)\s+(\d+)\s", done.stdout, re.MULTILINE)}
    if sum(outputs.values()) != lines:
        raise RuntimeError(f"outputs {outputs} do not add up to {lines}:\n{done.stdout}")
    return Measured(lines, int(found.group(1)) / 1024, seconds, outputs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=5_000_000)
    parser.add_argument("--out", type=Path, default=BENCH / "results")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="slither-run-memory-") as tmp:
        result = measure(args.lines, Path(tmp))
    print(f"slither run, scoring pipe, {result.lines:,} lines: max RSS "
          f"{result.max_rss_mb:,.0f} MB, {result.seconds:,.0f} s "
          f"({result.rate:,.0f} lines/s); outputs {result.outputs}")
    args.out.mkdir(parents=True, exist_ok=True)
    output = args.out / f"run-memory-{time.strftime('%Y%m%dT%H%M%S')}.json"
    output.write_text(json.dumps({**asdict(result), "rate": result.rate}, indent=1))
    print(f"results: {output}")


if __name__ == "__main__":
    main()
