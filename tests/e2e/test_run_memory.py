"""``slither run`` streams: its peak memory does not grow with its input.

Issue 22: ``slither run`` held every input and every output, 1.04 GB max RSS for a
500k-line file, about 2 KB per line. Here the main job's pipe runs over 20,000 and
150,000 generated lines in a subprocess (``bench/run_memory.py``'s measure); 7.5
times the input may cost at most a bounded amount more (the embedded log's RocksDB
memtables fill up at the larger size), nowhere near the ~260 MB that 2 KB per extra
line would add. ``bench/run_memory.py`` measures 5M lines.
"""

from __future__ import annotations

import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench"
if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))

from run_memory import measure  # noqa: E402

SMALL, LARGE = 20_000, 150_000
GROWTH_BOUND_MB = 120
"""What 7.5 times the input may add: RocksDB memtables (64 MB) plus slack."""
PEAK_BOUND_MB = 250


def test_slither_run_memory_does_not_grow_with_the_input(tmp_path: Path) -> None:
    small = measure(SMALL, tmp_path / "small", timeout=120)
    large = measure(LARGE, tmp_path / "large", timeout=300)
    grown = large.max_rss_mb - small.max_rss_mb
    assert grown < GROWTH_BOUND_MB, (small, large)
    assert large.max_rss_mb < PEAK_BOUND_MB, large
    assert sum(large.outputs.values()) == LARGE
