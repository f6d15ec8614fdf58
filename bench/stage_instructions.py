"""Instructions per record of the passthrough stage and the raw loop, under callgrind.

Run: ``.venv/bin/python bench/stage_instructions.py --bootstrap HOST:PORT``

Thread CPU time on a shared VM moves by tens of percent; instruction counts do not.
This runs ``bench/stage_overhead.py --only SIDE`` under ``valgrind --tool=callgrind``
twice per side, with ``--low`` and ``--high`` rounds of 1,000 prebuilt records, and
divides the main thread's difference by the extra records, so start-up and
teardown cancel out. ``PYTHONHASHSEED=0`` keeps dict and set layouts the same from
run to run. Prints both sides and their ratio, and writes them as JSON to
``bench/results/stage-instructions-<stamp>.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
RECORDS_PER_ROUND = 1000
TOTALS = re.compile(r"^(?:summary|totals):\s+(\d+)", re.MULTILINE)


def main_thread_instructions(side: str, rounds: int, bootstrap: str, work: Path) -> int:
    """Instructions executed by the main thread of one callgrind run."""
    out = work / f"cg.{side}.{rounds}"
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    subprocess.run(
        ["valgrind", "--tool=callgrind", "--separate-threads=yes",
         f"--callgrind-out-file={out}", sys.executable, str(BENCH / "stage_overhead.py"),
         "--only", side, "--rounds", str(rounds), "--bootstrap", bootstrap],
        check=True, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    main_file = Path(f"{out}-01")
    found = TOTALS.search(main_file.read_text())
    if found is None:
        raise RuntimeError(f"no totals in {main_file}")
    return int(found.group(1))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap", required=True, help="a running broker (HOST:PORT)")
    parser.add_argument("--low", type=int, default=10)
    parser.add_argument("--high", type=int, default=30)
    parser.add_argument("--sides", default="slither,raw")
    args = parser.parse_args()
    results: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="slither-callgrind-") as tmp:
        for side in args.sides.split(","):
            low = main_thread_instructions(side, args.low, args.bootstrap, Path(tmp))
            high = main_thread_instructions(side, args.high, args.bootstrap, Path(tmp))
            results[side] = (high - low) / ((args.high - args.low) * RECORDS_PER_ROUND)
            print(f"{side:8s} {results[side]:10,.0f} instructions per record", flush=True)
    if "slither" in results and "raw" in results:
        print(f"slither / raw: {results['slither'] / results['raw']:.2f}x")
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                            capture_output=True, text=True, check=False).stdout.strip()
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    target = BENCH / "results" / f"stage-instructions-{stamp}.json"
    target.parent.mkdir(exist_ok=True)
    target.write_text(json.dumps({"commit": commit, "low": args.low, "high": args.high,
                                  "instructions_per_record": results}, indent=1))
    print(f"written {target.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
