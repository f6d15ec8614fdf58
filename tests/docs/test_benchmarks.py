"""The benchmark figures the docs show are those of committed result files.

``bench/summary.py`` builds every table from ``bench/results/*.json``; the pages must
hold those tables verbatim (paste the new output after a new run).
"""

from __future__ import annotations

import importlib.util
import sys

import pytest

from tests.docs.blocks import DOCS, ROOT

_SPEC = importlib.util.spec_from_file_location("bench_summary", ROOT / "bench" / "summary.py")
assert _SPEC is not None and _SPEC.loader is not None
summary = importlib.util.module_from_spec(_SPEC)
sys.modules[_SPEC.name] = summary
_SPEC.loader.exec_module(summary)


@pytest.fixture(scope="module")
def results() -> dict[str, object]:
    return summary.load()


def test_the_readme_shows_the_latest_summary_table(results: dict[str, object]) -> None:
    readme = (ROOT / "README.md").read_text()
    assert summary.summary_table(results) in readme
    assert f"bench/results/{summary.LATEST.name}" in readme


def test_the_benchmarks_page_shows_every_table_of_the_latest_run(
        results: dict[str, object]) -> None:
    page = (DOCS / "benchmarks.md").read_text()
    wanted = [table for table in summary.tables(results)
              if table != summary.delivery_table(results)]
    missing = [table.splitlines()[2] for table in wanted if table not in page]
    assert not missing, f"tables not (or no longer) on the page, first rows: {missing}"
    assert f"bench/results/{summary.LATEST.name}" in page


def test_the_delivery_and_benchmarks_pages_show_the_stage_engine_run() -> None:
    """The cost of exactly_once is quoted from the run after the stage engine change
    (the full run of LATEST predates it)."""
    table = summary.engine_table(summary.load(summary.ENGINE_RUN))
    for page in (DOCS / "concepts" / "delivery.md", DOCS / "benchmarks.md"):
        text = page.read_text()
        assert table in text, f"{page.name} lacks the stage-engine table"
        assert f"bench/results/{summary.ENGINE_RUN.name}" in text, page.name


def test_every_result_file_quoted_is_committed() -> None:
    for path in (summary.LATEST, summary.ENGINE_RUN, *summary.COLD_BROKER_RUNS):
        assert path.is_file(), path
