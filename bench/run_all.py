"""Benchmarks against peers: every case, every system, one broker, one run.

Run: ``.venv/bin/python bench/run_all.py [--records N] [--repeat R]
[--cases passthrough,lookup,compute,router,aggregate,latency,restore,backlog]
[--systems raw-kafka,slither,...] [--bootstrap HOST:PORT]``

Starts the local Apache Kafka broker (``docker/kafka-local``) unless ``--bootstrap``
is given, creates the peers' virtualenvs if missing (``bench/peers/setup.py``) and
builds what a system needs built (Kafka Streams' jar, ``peers/kstreams_app.py``), and
for each case and repetition runs every system in turn (interleaved, so background
load hits all alike) on fresh topics holding the same records. Prints one table per
case (median and min-max spread over the repetitions, each system's settings, what a
system cannot do and why, and the issue's goals met or missed) and writes everything
to ``bench/results/<timestamp>.json``. See ``bench/harness/runs.py`` for what each
figure measures.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

# One BLAS thread, as in the systems' processes, before NumPy loads (calibration).
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

BENCH = Path(__file__).resolve().parent
if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))

from cases import model  # noqa: E402
from harness import report  # noqa: E402
from harness.broker import broker  # noqa: E402
from harness.runs import Bench, RunResult  # noqa: E402
from harness.systems import System, all_systems  # noqa: E402

CASES = ("passthrough", "lookup", "compute", "router", "aggregate", "latency", "restore",
         "backlog")
"""In the issue's order (its case 6, memory, is the backlog case plus the peak RSS
column of every table; aggregate came with issue 22)."""


def _names(text: str, known: tuple[str, ...] | list[str], what: str) -> list[str]:
    chosen = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in chosen if name not in known]
    if unknown or not chosen:
        raise SystemExit(f"--{what}: unknown {unknown or text!r}; known: {', '.join(known)}")
    return chosen


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000,
                        help="input records of passthrough and router (default 1,000,000)")
    parser.add_argument("--compute-records", type=int, default=30_000,
                        help="input records of compute: peers call the ~1 ms model per "
                             "record, so 1,000,000 would take them ~20 min per run "
                             "(default 30,000)")
    parser.add_argument("--restore-records", type=int, default=None,
                        help="state entries of restore (default: --records)")
    parser.add_argument("--backlog-records", type=int, default=1_000_000,
                        help="backlog in front of the slow stage (default 1,000,000, "
                             "whatever --records is: the issue's memory bound)")
    parser.add_argument("--backlog-seconds", type=float, default=60.0,
                        help="how long the slow stage works on the backlog (default 60)")
    parser.add_argument("--lookup-records", type=int, default=None,
                        help="stream records of lookup (default: --records)")
    parser.add_argument("--lookup-keys", type=int, default=1_000_000,
                        help="rows of the lookup table (default 1,000,000)")
    parser.add_argument("--aggregate-records", type=int, default=None,
                        help="input records of aggregate (default: --records)")
    parser.add_argument("--aggregate-keys", type=int, default=10_000,
                        help="distinct keys (users) of aggregate (default 10,000)")
    parser.add_argument("--latency-rate", type=float, default=5000.0,
                        help="input records/s of latency (default 5,000)")
    parser.add_argument("--latency-seconds", type=float, default=20.0,
                        help="measured seconds of latency, after the warm-up (default 20)")
    parser.add_argument("--latency-warmup", type=float, default=5.0,
                        help="warm-up seconds of latency, excluded (default 5)")
    parser.add_argument("--repeat", type=int, default=3, help="repetitions (default 3)")
    parser.add_argument("--cases", default=",".join(CASES))
    parser.add_argument("--systems", default=",".join(
        name for name, system in all_systems().items() if system.in_default),
        help="systems to run (default: all but tuning variants such as slither-b5000)")
    parser.add_argument("--bootstrap", default=None, help="use this broker, start none")
    parser.add_argument("--timeout", type=float, default=1800.0,
                        help="seconds one run may take before it is reported as failed")
    parser.add_argument("--budget", type=float, default=None,
                        help="seconds of output after which a throughput run stops and "
                             "reports its steady rate over what came out (default: none, "
                             "every run goes to its last record); for peers that would "
                             "take many minutes at full size")
    parser.add_argument("--out", type=Path, default=BENCH / "results",
                        help="directory of the JSON results and the systems' logs")
    args = parser.parse_args(argv)
    for flag in ("records", "compute_records", "repeat", "lookup_keys", "aggregate_keys"):
        if getattr(args, flag) < 1:
            parser.error(f"--{flag.replace('_', '-')} must be >= 1")
    for flag in ("latency_rate", "latency_seconds"):
        if getattr(args, flag) <= 0:
            parser.error(f"--{flag.replace('_', '-')} must be > 0")
    if args.budget is not None and args.budget <= 0:
        parser.error("--budget must be > 0")
    if args.latency_warmup < 0:
        parser.error("--latency-warmup must be >= 0")
    if args.lookup_records is None:
        args.lookup_records = args.records
    if args.aggregate_records is None:
        args.aggregate_records = args.records
    if args.aggregate_records < 1:
        parser.error("--aggregate-records must be >= 1")
    if args.restore_records is None:
        args.restore_records = args.records
    args.cases = _names(args.cases, CASES, "cases")
    args.systems = _names(args.systems, list(all_systems()), "systems")
    return args


def ensure_peer_venvs(systems: list[str]) -> None:
    venvs = sorted({s.venv for n, s in all_systems().items() if n in systems and s.venv})
    if venvs:
        subprocess.run([sys.executable, str(BENCH / "peers" / "setup.py"),
                        "--peers", ",".join(venvs)], check=True)


def prepare_systems(systems: list[str]) -> None:
    """Run each chosen system's build step once (e.g. Kafka Streams' Maven build), so
    no build lands in a run's start-up time."""
    steps = dict.fromkeys(s.prepare for n, s in all_systems().items()
                          if n in systems and s.prepare)
    for step in steps:
        subprocess.run(list(step), check=True)


def code_version() -> dict[str, object]:
    """The commit measured, and which slither files differed from it (others may edit
    the working tree while a run is going)."""
    def git(*argv: str) -> str:
        done = subprocess.run(["git", *argv], cwd=BENCH.parent, capture_output=True,
                              text=True, check=False)
        return done.stdout.strip()

    return {"commit": git("rev-parse", "HEAD"),
            "uncommitted": git("status", "--porcelain", "--", "slither_stream").splitlines()}


def run_one(bench: Bench, system: System, case: str, rep: int, *, args: argparse.Namespace,
            records: int) -> RunResult:
    """One repetition of ``case`` for ``system``."""
    if case == "restore":
        return bench.restore(system, records, rep)
    if case == "backlog":
        return bench.backlog(system, records, rep, args.backlog_seconds)
    if case == "latency":
        return bench.latency(system, rep, rate=args.latency_rate,
                             seconds=args.latency_seconds, warmup_s=args.latency_warmup)
    if case == "lookup":
        return bench.throughput(system, case, records, rep, lookup_keys=args.lookup_keys)[0]
    if case == "aggregate":
        return bench.throughput(system, case, records, rep,
                                aggregate_keys=args.aggregate_keys)[0]
    return bench.throughput(system, case, records, rep)[0]


def render(path: Path) -> int:
    """Print the tables and goals of a saved run again (a ``.json`` result, or the
    ``.partial.json`` of a run cut short) with this version of the report."""
    data = json.loads(path.read_text())
    runs = [RunResult(**r) for r in (data if isinstance(data, list) else data["runs"])]
    cases = list(dict.fromkeys(r.case for r in runs))
    names = list(dict.fromkeys(r.system for r in runs))
    known = all_systems()
    summaries = [report.summarize(case, name, [r for r in runs if r.case == case
                                               and r.system == name],
                                  known[name].unsupported.get(case) if name in known else None)
                 for case in cases for name in names]
    records = {case: max(r.records for r in runs if r.case == case) for case in cases}
    print(report.table([s for s in summaries if s.case != "latency"], records))
    latency_runs = [r for r in runs if r.case == "latency"]
    if latency_runs:
        # a partial file holds runs only: its latency settings are the defaults
        options = data["args"] if isinstance(data, dict) else vars(parse([]))
        print(report.latency_table(latency_runs, names, rate=options["latency_rate"],
                                   seconds=options["latency_seconds"],
                                   warmup=options["latency_warmup"]))
    print(report.rss_by_process(runs))
    print("\ngoals:")
    for line in [*report.goals(summaries), report.latency_goal(runs)]:
        print(f"  {line}")
    return 0


def main(argv: list[str] | None = None) -> int:
    if argv is None:
        argv = sys.argv[1:]
    if argv[:1] == ["--render"]:
        if len(argv) != 2:
            raise SystemExit("usage: run_all.py --render RESULTS.json")
        return render(Path(argv[1]))
    args = parse(argv)
    ensure_peer_venvs(args.systems)
    prepare_systems(args.systems)
    systems = [all_systems()[name] for name in args.systems]
    stamp = time.strftime("%Y%m%dT%H%M%S")
    work_dir = args.out / stamp
    work_dir.mkdir(parents=True, exist_ok=True)
    latency_total = int(args.latency_rate * (args.latency_warmup + args.latency_seconds))
    records = {"passthrough": args.records, "router": args.records,
               "aggregate": args.aggregate_records,
               "compute": args.compute_records, "restore": args.restore_records,
               "backlog": args.backlog_records, "lookup": args.lookup_records,
               "latency": latency_total}
    calibration = model.tune()
    print(f"compute model on this machine: {calibration['call_ms']:.2f} ms per call + "
          f"{calibration['item_us']:.1f} us per item (batch of 64: "
          f"{calibration['batch64_ms']:.2f} ms; target 1 ms + 10 us; rounds "
          f"{model.BASE_ROUNDS},{model.ITEM_ROUNDS} for every system via "
          f"{model.ROUNDS_ENV})", flush=True)
    load_start = os.getloadavg()
    print(f"load average at start: {load_start}", flush=True)
    results: list[RunResult] = []
    partial = work_dir.with_suffix(".partial.json")
    """Every finished run so far, so a run cut short still leaves its figures."""
    with broker(args.bootstrap) as bootstrap:
        print(f"broker {bootstrap}; logs in {work_dir}", flush=True)
        bench = Bench(bootstrap, work_dir, timeout=args.timeout, budget=args.budget)
        for case in args.cases:
            for rep in range(args.repeat):
                for system in systems:
                    if case in system.unsupported:
                        continue
                    result = run_one(bench, system, case, rep, args=args,
                                     records=records[case])
                    results.append(result)
                    partial.write_text(json.dumps([r.as_dict() for r in results]))
                    rate = "-" if result.rate is None else f"{result.rate:,.0f}"
                    status = "ok" if result.error is None else result.error.splitlines()[0]
                    if case == "latency" and result.error is None:
                        status = (f"p50 {result.extra['p50_ms']:.1f} ms, p99 "
                                  f"{result.extra['p99_ms']:.1f} ms")
                    if "second_half_rate" in result.extra:
                        status += (f" (second half of the outputs "
                                   f"{result.extra['second_half_rate']:,.0f} rec/s)")
                    if case == "aggregate" and result.error is None \
                            and "aggregate" in result.extra:
                        status = (f"{status}; {result.extra['aggregate']['message']}")
                    print(f"  {case:<12} rep {rep} {system.name:<12} {rate:>12} rec/s  "
                          f"{status}", flush=True)
    summaries = [report.summarize(case, system.name,
                                  [r for r in results if r.case == case
                                   and r.system == system.name],
                                  system.unsupported.get(case))
                 for case in args.cases for system in systems]
    load_end = os.getloadavg()
    print(report.table([s for s in summaries if s.case != "latency"], records))
    if "latency" in args.cases:
        print(report.latency_table(
            [r for r in results if r.case == "latency"], [s.name for s in systems],
            rate=args.latency_rate, seconds=args.latency_seconds,
            warmup=args.latency_warmup))
    print(report.rss_by_process(results))
    print("\nsettings:")
    for system in systems:
        print(f"  {system.name:<12} {system.settings}")
    print(f"\nload average: start {load_start}, end {load_end}")
    print("\ngoals:")
    for line in [*report.goals(summaries), report.latency_goal(results)]:
        print(f"  {line}")
    output = work_dir.with_suffix(".json")
    output.write_text(json.dumps({
        "args": {k: v if not isinstance(v, Path) else str(v) for k, v in vars(args).items()},
        "records": records, "model": calibration,
        "load_average": {"start": load_start, "end": load_end},
        "code": code_version(),
        "settings": {s.name: s.settings for s in systems},
        "summaries": [s.as_dict() for s in summaries],
        "runs": [r.as_dict() for r in results],
    }, indent=2))
    partial.unlink(missing_ok=True)
    print(f"\nresults: {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
