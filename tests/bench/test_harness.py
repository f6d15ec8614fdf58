"""The peer benchmark harness runs end to end on tiny data (slither and the raw
client only, so no peer venv is needed), and its summaries and goal checks are right.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))

import run_all  # noqa: E402
from harness import report  # noqa: E402
from harness.runs import RunResult  # noqa: E402

RECORDS = 2_000


@pytest.mark.kafka
@pytest.mark.timeout(180)
def test_run_all_measures_slither_and_raw_client(
        kafka_bootstrap: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = run_all.main(["--records", str(RECORDS), "--compute-records", "300",
                         "--backlog-seconds", "6",
                         "--repeat", "1", "--systems", "raw-kafka,slither",
                         "--bootstrap", kafka_bootstrap, "--out", str(tmp_path),
                         "--timeout", "90"])
    assert code == 0
    printed = capsys.readouterr().out
    [result_file] = tmp_path.glob("*.json")
    results = json.loads(result_file.read_text())
    runs = {(r["case"], r["system"]): r for r in results["runs"]}
    expected = {"passthrough": RECORDS, "router": RECORDS, "compute": 300}
    for case, records in expected.items():
        for system in ("raw-kafka", "slither"):
            run = runs[(case, system)]
            assert run["error"] is None, run["error"]
            assert run["received"] >= records
            assert run["extra"]["output_end_offsets"] >= records
            assert run["rate"] > 0 and run["peak_rss_mb"] > 10
    restore = runs[("restore", "slither")]
    assert restore["error"] is None, restore["error"]
    assert restore["rate"] > 0 and restore["extra"]["restore_s"] > 0
    assert ("restore", "raw-kafka") not in runs
    backlog = runs[("backlog", "slither")]
    assert backlog["error"] is None, backlog["error"]
    assert backlog["received"] > 0 and backlog["peak_rss_mb"] > 10
    summaries = {(s["case"], s["system"]): s for s in results["summaries"]}
    assert summaries[("restore", "raw-kafka")]["note"].startswith("cannot: no state")
    assert "== passthrough (2,000 records" in printed
    assert "goals:" in printed and "passthrough slither / raw-kafka" in printed
    assert "backlog peak RSS slither: " in printed


def _run(system: str, rate: float | None, error: str | None = None) -> RunResult:
    return RunResult(system, "passthrough", 0, 100, received=100, rate=rate,
                     wall_rate=rate, startup_s=1.0, peak_rss_mb=50.0, error=error)


def test_summary_takes_the_median_of_finished_runs_and_names_failures() -> None:
    runs = [_run("slither", 10.0), _run("slither", 30.0), _run("slither", 20.0),
            _run("slither", None, error="timed out after 5 of 100 records\nlog")]
    summary = report.summarize("passthrough", "slither", runs)
    assert (summary.median, summary.low, summary.high, summary.runs) == (20.0, 10.0, 30.0, 3)
    assert summary.note == "1 of 4 runs failed: timed out after 5 of 100 records"


def test_goals_compare_medians_and_say_missed() -> None:
    summaries = [report.summarize("passthrough", name, [_run(name, rate)])
                 for name, rate in (("slither", 50.0), ("raw-kafka", 100.0),
                                    ("quix", 20.0))]
    lines = report.goals(summaries)
    assert "passthrough slither / raw-kafka: 0.50x (goal >= 0.6x) MISSED" in lines
    assert "passthrough slither / quix: 2.50x (goal >= 2x) met" in lines
    assert "passthrough slither / faust: not measured" in lines
