"""The command line every system script accepts (stdlib only: peers import it too).

The harness starts ``<venv python> bench/peers/<system>.py --case C --bootstrap B
--input T --outputs O1[,O2,...] --group G [--state-dir D] [--table L]`` and stops it
with SIGTERM once the output topics hold every record.

* ``lookup``: ``--table`` names the topic holding the lookup table (one record per
  key, produced before the stream, co-partitioned with it); the system loads it into
  its state before the stream's records are looked up.
* ``aggregate``: the input is keyed by user (``work.aggregate_key``); a system keeps
  a running count and sum of ``amount`` per key and writes one output per input
  record, keyed by the key, value ``work.aggregate_step``'s ``{"count", "sum"}``.
* ``latency``: three stages chained through the topics ``mid_topics(group)`` (which
  the harness creates for the peers), the third routing to the three outputs.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

CASES = ("passthrough", "router", "aggregate", "compute", "restore", "backlog", "lookup",
         "latency")
MULTI_OUTPUT = ("router", "latency")
"""Cases whose last step routes to three outputs (``work.ROUTES``)."""

BENCH = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class SystemArgs:
    case: str
    bootstrap: str
    input: str
    outputs: tuple[str, ...]
    group: str
    state_dir: str
    partitions: int
    table: str


def parse(argv: list[str] | None = None) -> SystemArgs:
    """Parse and check the arguments; a bad value exits with a message naming it."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--case", required=True, choices=CASES)
    parser.add_argument("--bootstrap", required=True, help="Kafka host:port")
    parser.add_argument("--input", required=True, help="input topic")
    parser.add_argument("--outputs", required=True,
                        help="output topics, comma-separated (router: one per route a,b,c)")
    parser.add_argument("--group", required=True, help="consumer group / application id")
    parser.add_argument("--state-dir", default="", help="local state directory")
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--table", default="", help="lookup: the table's topic")
    ns = parser.parse_args(argv)
    outputs = tuple(t for t in ns.outputs.split(",") if t)
    wanted = 3 if ns.case in MULTI_OUTPUT else 1
    if len(outputs) != wanted:
        parser.error(f"--outputs: case {ns.case} needs {wanted} topic(s), got {outputs}")
    if ns.case == "lookup" and not ns.table:
        parser.error("--table: the lookup case needs the table's topic")
    return SystemArgs(ns.case, ns.bootstrap, ns.input, outputs, ns.group, ns.state_dir,
                      ns.partitions, ns.table)


def mid_topics(group: str) -> tuple[str, str]:
    """The latency case's topics between stages 1-2 and 2-3 (peers and raw loop)."""
    return f"{group}.mid1", f"{group}.mid2"


def importable() -> None:
    """Put ``bench/`` on ``sys.path`` so ``cases`` imports from any interpreter."""
    if str(BENCH) not in sys.path:
        sys.path.insert(0, str(BENCH))
