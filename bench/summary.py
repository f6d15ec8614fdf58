"""Condense one ``run_all.py`` result file into the Markdown tables the docs show.

    .venv/bin/python bench/summary.py [bench/results/<stamp>.json]

prints the summary table of the README and the Benchmarks page (median rec/s per
case and system, and latency), the tables of every case, and the stage-engine
table of :data:`ENGINE_RUN` (slither against Kafka Streams in both delivery modes)
that the "Delivery guarantees" page and the Benchmarks page show. Without an
argument it reads :data:`LATEST`, the full run the docs quote.
``tests/docs/test_benchmarks.py`` checks that the pages hold exactly these tables,
so every figure on them comes from a committed result file: after a new run, point
:data:`LATEST` (or :data:`ENGINE_RUN`) at it and paste the new tables.
"""

from __future__ import annotations

import json
import statistics
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
LATEST = RESULTS / "20261207T133303.json"
"""The run every page quotes: every throughput case, latency and restore; slither in
both delivery modes beside the raw client, Kafka Streams in both modes and Quix
Streams, one broker (after the stage engine and keyed state)."""

ENGINE_RUN = LATEST
"""The run the "Delivery guarantees" page quotes for the stage engine (commit per
interval, one transaction per interval under exactly_once): slither and Kafka
Streams in both delivery modes."""

FULL_RUN = RESULTS / "20261206T233129.json"
"""The last run with Faust and the backlog case (before the stage engine)."""

SYSTEMS = ("raw-kafka", "slither", "slither-eos", "kstreams", "kstreams-eos", "quix", "faust")
ENGINE_SYSTEMS = ("slither", "slither-eos", "kstreams", "kstreams-eos")
HEADINGS = {"raw-kafka": "raw client", "slither": "slither", "slither-eos": "slither (EOS)",
            "quix": "Quix Streams", "faust": "Faust", "kstreams": "Kafka Streams",
            "kstreams-eos": "Kafka Streams (EOS)"}
RATE_CASES = ("passthrough", "router", "aggregate", "lookup", "compute", "restore")
ENGINE_CASES = ("passthrough", "router", "aggregate")
MISSING = "-"


def load(path: Path = LATEST) -> dict[str, Any]:
    """A result file as written by ``run_all.py``."""
    loaded: dict[str, Any] = json.loads(path.read_text())
    return loaded


def _summary(results: Mapping[str, Any], case: str, system: str) -> Mapping[str, Any]:
    for entry in results["summaries"]:
        if entry["case"] == case and entry["system"] == system:
            found: Mapping[str, Any] = entry
            return found
    return {}


def _rate(results: Mapping[str, Any], case: str, system: str) -> str:
    median = _summary(results, case, system).get("median")
    return MISSING if median is None else f"{median:,.0f}"


def latency(results: Mapping[str, Any], system: str) -> tuple[float, float] | None:
    """Median over the repetitions of the p50 and of the p99 latency, in ms."""
    runs = [run for run in results["runs"] if run["case"] == "latency"
            and run["system"] == system and run.get("error") is None
            and "p50_ms" in run.get("extra", {})]
    if not runs:
        return None
    return (statistics.median(run["extra"]["p50_ms"] for run in runs),
            statistics.median(run["extra"]["p99_ms"] for run in runs))


def _latency_cell(results: Mapping[str, Any], system: str) -> str:
    found = latency(results, system)
    return MISSING if found is None else f"{found[0]:,.1f} / {found[1]:,.1f}"


def systems_of(results: Mapping[str, Any]) -> tuple[str, ...]:
    """The systems of :data:`SYSTEMS` that ``results`` measured, in that order."""
    measured = {entry["system"] for entry in results["summaries"]}
    return tuple(system for system in SYSTEMS if system in measured)


def cases_of(results: Mapping[str, Any], cases: Iterable[str]) -> list[str]:
    """Those of ``cases`` that ``results`` ran, in the order given."""
    ran = set(results["args"]["cases"])
    return [case for case in cases if case in ran]


def _row(cells: Iterable[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _unit(results: Mapping[str, Any], case: str) -> str:
    records = results["records"].get(case)
    label = "restore rec/s" if case == "restore" else "rec/s"
    return f"{case} ({records:,} records; {label})" if records else case


def summary_table(results: Mapping[str, Any]) -> str:
    """Median of the repetitions per case and system; latency p50 / p99 in ms."""
    systems = systems_of(results)
    lines = [_row(["case", *(HEADINGS[s] for s in systems)]),
             _row(["---", *("---:" for _ in systems)])]
    for case in cases_of(results, RATE_CASES):
        lines.append(_row([_unit(results, case),
                           *(_rate(results, case, system) for system in systems)]))
    if "latency" in results["args"]["cases"]:
        rate = results["args"]["latency_rate"]
        lines.append(_row([f"latency, 3 stages at {rate:,.0f} rec/s (p50 / p99 ms)",
                           *(_latency_cell(results, system) for system in systems)]))
    return "\n".join(lines)


def delivery_table(results: Mapping[str, Any]) -> str:
    """slither at-least-once against exactly-once, from the same run."""
    lines = [_row(["case", "at_least_once", "exactly_once", "exactly_once / at_least_once"]),
             _row(["---", "---:", "---:", "---:"])]
    for case in cases_of(results, ("passthrough", "router", "aggregate", "lookup", "compute")):
        low = _summary(results, case, "slither").get("median")
        high = _summary(results, case, "slither-eos").get("median")
        ratio = MISSING if not low or high is None else f"{high / low:.2f}x"
        lines.append(_row([f"{case} (rec/s)", _rate(results, case, "slither"),
                           _rate(results, case, "slither-eos"), ratio]))
    for label, index in (("latency p50 (ms)", 0), ("latency p99 (ms)", 1)):
        cells = []
        for system in ("slither", "slither-eos"):
            found = latency(results, system)
            cells.append(MISSING if found is None else f"{found[index]:,.1f}")
        lines.append(_row([label, *cells, ""]))
    cpu = [_summary(results, "passthrough", s).get("cpu_us") for s in ("slither", "slither-eos")]
    lines.append(_row(["passthrough CPU µs per record",
                       *(MISSING if c is None else f"{c:,.1f}" for c in cpu), ""]))
    return "\n".join(lines)


def _usable(entry: Mapping[str, Any]) -> float | None:
    """The median rate of a summary, unless no run finished or its outputs were not
    exact (a rate of wrong outputs is not a figure to quote)."""
    if entry.get("exact") is False:
        return None
    median: float | None = entry.get("median")
    return median


def engine_table(results: Mapping[str, Any]) -> str:
    """slither and Kafka Streams in both delivery modes, per case of ``results``:
    rec/s (CPU µs per record), and the two ratios the stage engine is judged by."""
    lines = [_row(["case", *(HEADINGS[s] for s in ENGINE_SYSTEMS),
                   "slither (EOS) / slither", "slither (EOS) / Kafka Streams (EOS)"]),
             _row(["---", *("---:" for _ in ENGINE_SYSTEMS), "---:", "---:"])]
    for case in cases_of(results, ENGINE_CASES):
        rates: dict[str, float | None] = {}
        cells = []
        for system in ENGINE_SYSTEMS:
            entry = _summary(results, case, system)
            rates[system] = rate = _usable(entry)
            cpu = entry.get("cpu_us")
            cells.append(MISSING if rate is None else
                         f"{rate:,.0f}" + ("" if cpu is None else f" ({cpu:,.1f} µs)"))
        records = results["records"].get(case)
        label = f"{case} ({records:,} records; rec/s)" if records else case
        lines.append(_row([label, *cells, _ratio(rates, "slither-eos", "slither"),
                           _ratio(rates, "slither-eos", "kstreams-eos")]))
    return "\n".join(lines)


def _ratio(rates: Mapping[str, float | None], high: str, low: str) -> str:
    top, bottom = rates[high], rates[low]
    return MISSING if top is None or not bottom else f"{top / bottom:.2f}x"


def _number(value: float | None, digits: int = 0) -> str:
    return MISSING if value is None else f"{value:,.{digits}f}"


def case_table(results: Mapping[str, Any], case: str) -> str:
    """Every figure of one throughput case (or restore, backlog), per system."""
    lines = [_row(["system", "rec/s median", "spread (min-max)", "wall rec/s", "startup s",
                   "peak RSS MB", "CPU µs/rec", "note"]),
             _row(["---", "---:", "---:", "---:", "---:", "---:", "---:", "---"])]
    for system in SYSTEMS:
        entry = _summary(results, case, system)
        if not entry:
            continue
        spread = (MISSING if entry.get("low") is None
                  else f"{entry['low']:,.0f}-{entry['high']:,.0f}")
        lines.append(_row([HEADINGS[system], _number(entry.get("median")), spread,
                           _number(entry.get("wall")), _number(entry.get("startup_s"), 1),
                           _number(entry.get("peak_rss_mb")), _number(entry.get("cpu_us"), 1),
                           entry.get("note") or ""]))
    return "\n".join(lines)


def latency_table(results: Mapping[str, Any]) -> str:
    """The latency case: p50 and p99 (median and min-max of the repetitions), max."""
    lines = [_row(["system", "p50 ms", "p99 ms", "max ms", "out rec/s", "peak RSS MB",
                   "CPU µs/rec", "note"]),
             _row(["---", "---:", "---:", "---:", "---:", "---:", "---:", "---"])]
    for system in SYSTEMS:
        runs = [run for run in results["runs"] if run["case"] == "latency"
                and run["system"] == system and "p50_ms" in run.get("extra", {})]
        if not runs:
            continue
        entry = _summary(results, "latency", system)

        def spread(key: str, chosen: list[dict[str, Any]] = runs) -> str:
            values = [run["extra"][key] for run in chosen]
            return (f"{statistics.median(values):,.1f} "
                    f"({min(values):,.1f}-{max(values):,.1f})")

        short = sum(1 for run in runs if run["extra"].get("incomplete"))
        lines.append(_row([HEADINGS[system], spread("p50_ms"), spread("p99_ms"),
                           _number(max(run["extra"]["max_ms"] for run in runs), 1),
                           _number(entry.get("median")), _number(entry.get("peak_rss_mb")),
                           _number(entry.get("cpu_us"), 1),
                           f"{short} of {len(runs)} runs could not sustain the input rate: "
                           "percentiles of the records that arrived (understated)"
                           if short else ""]))
    return "\n".join(lines)


def repetitions_table(paths: Iterable[Path], systems: tuple[str, ...]) -> str:
    """Rate (and CPU µs per record) of each repetition, per run file, in run order."""
    lines = [_row(["run", "system", "repetition 1", "repetition 2", "repetition 3"]),
             _row(["---", "---", "---:", "---:", "---:"])]
    for path in paths:
        results = load(path)
        for system in systems:
            runs = sorted((run for run in results["runs"] if run["system"] == system
                           and run["error"] is None), key=lambda run: run["rep"])
            cells = [f"{run['rate']:,.0f} ({run['cpu_us_per_record']:.2f} µs)" for run in runs]
            lines.append(_row([path.name, HEADINGS[system], *cells]))
    return "\n".join(lines)


COLD_BROKER_RUNS = tuple(RESULTS / f"{stamp}.json" for stamp in
                         ("20261207T004847", "20261207T005023", "20261207T005141"))
"""Three passthrough runs, slither first, each on a broker started for it."""


def tables(results: Mapping[str, Any]) -> list[str]:
    """Every table the docs quote from ``results`` (and the cold-broker runs)."""
    found = [summary_table(results), delivery_table(results)]
    found += [case_table(results, case) for case in cases_of(results, (*RATE_CASES, "backlog"))]
    if "latency" in results["args"]["cases"]:
        found.append(latency_table(results))
    found.append(repetitions_table(COLD_BROKER_RUNS, ("slither", "raw-kafka")))
    return found


def main(argv: list[str]) -> None:
    path = Path(argv[0]) if argv else LATEST
    results = load(path)
    commit = results.get("code", {}).get("commit", "?")[:7]
    print(f"<!-- from bench/results/{path.name}, commit {commit} -->\n")
    print("\n\n".join(tables(results)))
    if {"kstreams", "kstreams-eos"} & set(systems_of(results)):
        print(f"\n<!-- stage engine, from bench/results/{path.name} -->\n")
        print(engine_table(results))
    if not argv:
        print(f"\n<!-- the last run with Faust and backlog, bench/results/{FULL_RUN.name} -->\n")
        print(summary_table(load(FULL_RUN)))


if __name__ == "__main__":
    main(sys.argv[1:])
