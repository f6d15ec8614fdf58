"""Median and spread per (case, system), the printed table, the goals and the JSON."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from harness.runs import RunResult


@dataclass
class Summary:
    case: str
    system: str
    runs: int
    median: float | None
    low: float | None
    high: float | None
    wall: float | None
    startup_s: float | None
    peak_rss_mb: float | None
    cpu_us: float | None
    note: str
    rates: dict[int, float] = field(default_factory=dict)
    """The rate of each repetition that counts (for ratios per repetition)."""
    exact: bool | None = None
    """Aggregate: whether every run's outputs were exact (None: not checked)."""

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _median(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def summarize(case: str, system: str, runs: Sequence[RunResult],
              unsupported: str | None = None) -> Summary:
    """Median over the runs that finished; failed runs are named in the note."""
    if unsupported is not None:
        return Summary(case, system, 0, None, None, None, None, None, None, None,
                       f"cannot: {unsupported}")
    short = [r for r in runs if _nearly_all(r)]
    inexact = [r for r in runs if _inexact(r)]
    good = [r for r in runs if (r.error is None or r in short or r in inexact)
            and r.rate is not None]
    failed = [r for r in runs if r not in good]
    notes = []
    checked = [r for r in runs if "aggregate" in r.extra]
    exact = None
    if checked:
        exact = not inexact and len(checked) == len(runs)
        if inexact:
            notes.append(f"outputs NOT exact in {len(inexact)} of {len(runs)} runs: "
                         f"{inexact[0].extra['aggregate']['message']}")
        else:
            notes.append(f"outputs exact in {len(checked)} of {len(runs)} runs")
    if short:
        lost = ", ".join(f"{r.records - r.received:,}" for r in short)
        notes.append(f"{len(short)} of {len(runs)} runs stalled short of the end "
                     f"(records never output: {lost}); rate of what came out")
    budgeted = [r for r in good if "budget_s" in r.extra]
    if budgeted:
        counts = ", ".join(f"{r.received:,}" for r in budgeted)
        notes.append(f"{len(budgeted)} of {len(runs)} runs measured for "
                     f"{budgeted[0].extra['budget_s']:g} s of output only (time budget), "
                     f"over {counts} of {budgeted[0].records:,} records")
    if failed:
        first = (failed[0].error or "no rate").splitlines()[0]
        notes.append(f"{len(failed)} of {len(runs)} runs failed: {first}")
    note = "; ".join(notes)
    rates = [r.rate for r in good if r.rate is not None]
    return Summary(
        case, system, len(good),
        statistics.median(rates) if rates else None,
        min(rates) if rates else None, max(rates) if rates else None,
        _median([r.wall_rate for r in good]), _median([r.startup_s for r in good]),
        max((r.peak_rss_mb for r in good if r.peak_rss_mb is not None), default=None),
        _median([r.cpu_us_per_record for r in good]), note,
        {r.rep: r.rate for r in good if r.rate is not None}, exact)


def _inexact(run: RunResult) -> bool:
    """An aggregate run that went to its end whose outputs were checked and are not
    exact: its rate is a measurement, the verdict goes in the note."""
    check = run.extra.get("aggregate")
    return (check is not None and not check["ok"] and run.error is not None
            and run.error.startswith("aggregate outputs NOT exact"))


def _nearly_all(run: RunResult) -> bool:
    """A run that stalled with at least 99% of its records out: its steady rate is
    still a measurement, the lost records go in the note."""
    return (run.error is not None and run.error.startswith("stalled")
            and run.received >= 0.99 * run.records and run.rate is not None)


def _num(value: float | None, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


def table(summaries: Sequence[Summary], records: dict[str, int]) -> str:
    """The printed table: one block per case, one row per system."""
    lines = []
    header = (f"{'system':<12}{'rec/s median':>14}{'spread (min-max)':>22}"
              f"{'wall rec/s':>12}{'startup s':>11}{'peak RSS MB':>13}{'CPU us/rec':>12}  note")
    for case in dict.fromkeys(s.case for s in summaries):
        unit = {"restore": "restore rec/s",
                "lookup": "rec/s of the lookup stream, table preloaded (not timed)",
                "backlog": "rec/s of a deliberately slow stage, backlog never cleared"
                }.get(case, "rec/s")
        lines.append(f"\n== {case} ({records[case]:,} records; {unit}; "
                     f"median of runs) ==")
        lines.append(header)
        for s in (s for s in summaries if s.case == case):
            spread = ("-" if s.low is None or s.high is None
                      else f"{s.low:,.0f}-{s.high:,.0f}")
            lines.append(f"{s.system:<12}{_num(s.median, ',.0f'):>14}{spread:>22}"
                         f"{_num(s.wall, ',.0f'):>12}{_num(s.startup_s, '.1f'):>11}"
                         f"{_num(s.peak_rss_mb, ',.0f'):>13}{_num(s.cpu_us, ',.1f'):>12}"
                         f"  {s.note}")
    return "\n".join(lines)


def _spread(values: Sequence[float]) -> str:
    return f"{statistics.median(values):,.1f} ({min(values):,.1f}-{max(values):,.1f})"


def latency_table(runs: Sequence[RunResult], systems: Sequence[str], *, rate: float,
                  seconds: float, warmup: float) -> str:
    """End-to-end latency per system: median (min-max) over the repetitions of each
    run's p50 and p99, and the worst record of all runs."""
    lines = [f"\n== latency (3 stages, input paced at {rate:,.0f} rec/s for {seconds:g} s "
             f"after a {warmup:g} s warm-up; ms, median (min-max) of runs) ==",
             f"{'system':<12}{'p50 ms':>26}{'p99 ms':>28}{'max ms':>12}{'input rec/s':>13}"
             f"{'out rec/s':>11}{'peak RSS MB':>13}{'CPU us/rec':>12}  note"]
    for system in systems:
        mine = [r for r in runs if r.system == system]
        good = [r for r in mine if r.error is None and "p50_ms" in r.extra]
        failed = len(mine) - len(good)
        note = "" if not failed else (
            f"{failed} of {len(mine)} runs failed: "
            f"{next(r.error for r in mine if r.error).splitlines()[0]}")
        if not good:
            lines.append(f"{system:<12}{'-':>26}{'-':>28}{'-':>12}{'-':>13}{'-':>11}{'-':>13}"
                         f"{'-':>12}  {note or 'not run'}")
            continue
        short = [r.extra["incomplete"] for r in good if "incomplete" in r.extra]
        if short:
            note = f"{len(short)} of {len(good)} runs: {short[0]}" + (
                f"; {note}" if note else "")
        inputs = [r.extra.get("input_rate", 0.0) for r in good]
        outputs = [r.rate or 0.0 for r in good]
        lines.append(
            f"{system:<12}{_spread([r.extra['p50_ms'] for r in good]):>26}"
            f"{_spread([r.extra['p99_ms'] for r in good]):>28}"
            f"{max(r.extra['max_ms'] for r in good):>12,.1f}"
            f"{statistics.median(inputs):>13,.0f}{statistics.median(outputs):>11,.0f}"
            f"{max(r.peak_rss_mb or 0.0 for r in good):>13,.0f}"
            f"{statistics.median(r.cpu_us_per_record or 0.0 for r in good):>12,.1f}  {note}")
    return "\n".join(lines)


def rss_by_process(runs: Sequence[RunResult]) -> str:
    """Peak RSS of every process of slither's runs in the memory-relevant cases
    (passthrough and backlog): the largest run of each system and case."""
    lines = ["\npeak RSS by process (largest run; MB):"]
    for case in ("passthrough", "backlog"):
        best: dict[str, RunResult] = {}
        for run in runs:
            if run.case != case or "rss_by_process_mb" not in run.extra:
                continue
            if run.system not in best or (run.peak_rss_mb or 0) > (
                    best[run.system].peak_rss_mb or 0):
                best[run.system] = run
        for system, run in best.items():
            parts = ", ".join(f"{name}: {mb:,.0f}"
                              for name, mb in run.extra["rss_by_process_mb"].items())
            lines.append(f"  {case:<12} {system:<12} total {run.peak_rss_mb or 0:,.0f}; "
                         f"{parts}")
    return "\n".join(lines)


def _rate(summaries: Sequence[Summary], case: str, system: str) -> float | None:
    for s in summaries:
        if s.case == case and s.system == system:
            return s.median
    return None


def goals(summaries: Sequence[Summary]) -> list[str]:
    """The issue's goals, each with the figures and met / missed / not measured."""
    out: list[str] = []

    def check(label: str, value: float | None, target: float, unit: str = "x") -> None:
        if value is None:
            out.append(f"{label}: not measured")
            return
        verdict = "met" if value >= target else "MISSED"
        out.append(f"{label}: {value:,.2f}{unit} (goal >= {target:,}{unit}) {verdict}")

    def ratio(case: str, a: str, b: str) -> float | None:
        x, y = _rate(summaries, case, a), _rate(summaries, case, b)
        return None if x is None or y is None or y == 0 else x / y

    check("passthrough slither / raw-kafka", ratio("passthrough", "slither", "raw-kafka"),
          0.6)
    check("passthrough slither / quix", ratio("passthrough", "slither", "quix"), 2)
    check("passthrough slither / faust", ratio("passthrough", "slither", "faust"), 5)
    peers = [p for p in ("raw-kafka", "quix", "faust")
             if _rate(summaries, "compute", p) is not None]
    best = max(peers, key=lambda p: _rate(summaries, "compute", p) or 0.0, default=None)
    if best is not None:
        check(f"compute slither / best peer ({best})", ratio("compute", "slither", best), 3)
    else:
        check("compute slither / best peer", None, 3)
    check("restore slither", _rate(summaries, "restore", "slither"), 200_000, " rec/s")
    backlog = next((s.peak_rss_mb for s in summaries
                    if s.case == "backlog" and s.system == "slither"), None)
    if backlog is None:
        out.append("backlog peak RSS slither: not measured")
    else:
        verdict = "met" if backlog < 400 else "MISSED"
        out.append(f"backlog peak RSS slither: {backlog:,.0f} MB (goal < 400 MB) {verdict}")
    out.extend(issue22_goals(summaries))
    return out


def _summary(summaries: Sequence[Summary], case: str, system: str) -> Summary | None:
    return next((s for s in summaries if s.case == case and s.system == system), None)


EOS_COMMIT_INTERVAL_MS = 100.0
"""The exactly-once commit interval the latency goal allows for (the default)."""


def latency_goal(runs: Sequence[RunResult]) -> str:
    """Issue 22's latency figure: exactly-once p99 <= the commit interval plus twice
    the at-least-once p99 (medians over the repetitions of each run's p99)."""
    label = "issue 22: latency p99 slither-eos <= commit interval + 2 x slither p99"
    p99: dict[str, float] = {}
    for system in ("slither", "slither-eos"):
        values = [r.extra["p99_ms"] for r in runs if r.case == "latency"
                  and r.system == system and r.error is None and "p99_ms" in r.extra]
        if not values:
            return f"{label}: not measured"
        p99[system] = statistics.median(values)
    bound = EOS_COMMIT_INTERVAL_MS + 2 * p99["slither"]
    verdict = "met" if p99["slither-eos"] <= bound else "MISSED"
    return (f"{label}: {p99['slither-eos']:,.1f} ms (goal <= {EOS_COMMIT_INTERVAL_MS:g} + "
            f"2 x {p99['slither']:,.1f} = {bound:,.1f} ms) {verdict}")


def issue22_goals(summaries: Sequence[Summary]) -> list[str]:
    """Issue 22's figures to reach: ratios of the medians, with the ratio of each
    repetition beside them (both systems' runs of the same repetition), and whether
    slither's aggregate outputs were exact."""
    out: list[str] = []

    def check(case: str, a: str, b: str, target: float) -> None:
        label = f"issue 22: {case} {a} / {b}"
        x, y = _summary(summaries, case, a), _summary(summaries, case, b)
        if x is None or y is None or x.median is None or not y.median:
            out.append(f"{label}: not measured")
            return
        value = x.median / y.median
        verdict = "met" if value >= target else "MISSED"
        reps = [x.rates[rep] / y.rates[rep] for rep in sorted(x.rates)
                if y.rates.get(rep)]
        per_rep = ", ".join(f"{r:.2f}x" for r in reps)
        out.append(f"{label}: {value:,.2f}x (goal >= {target:g}x) {verdict}; "
                   f"per repetition {per_rep or '-'}")

    check("passthrough", "slither-eos", "slither", 0.8)
    check("passthrough", "slither-eos", "kstreams-eos", 1.2)
    check("passthrough", "slither", "raw-kafka", 0.78)
    for mine, theirs in (("slither", "kstreams"), ("slither-eos", "kstreams-eos"),
                         ("slither", "quix"), ("slither-eos", "quix")):
        check("aggregate", mine, theirs, 2.0 if theirs == "quix" else 1.0)
    for system in ("slither", "slither-eos"):
        summary = _summary(summaries, "aggregate", system)
        label = f"issue 22: aggregate {system} outputs exact"
        if summary is None or summary.exact is None:
            out.append(f"{label}: not measured")
        else:
            out.append(f"{label}: {'met' if summary.exact else 'MISSED'} ({summary.note})")
    return out
