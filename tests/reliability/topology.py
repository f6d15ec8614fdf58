"""Pipes the reliability suite runs in ``slither worker`` processes (``file.py:name``).

Three local stages over keyed records ``{n, key, seq}``: ``parse`` stamps the record,
``enrich`` does a little work (so kills land mid-stream), ``emit`` prints one
``RELIAB-OUT n`` line per record when ``SLITHER_RELIABILITY_PROGRESS=1`` (the
test's progress signal from worker processes) and passes it on.
``SLITHER_RELIABILITY_WORK_MS`` sets the per-record work of ``enrich``.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any

from slither_stream.item import Item
from slither_stream.pipe import Pipe

_PROGRESS = os.environ.get("SLITHER_RELIABILITY_PROGRESS") == "1"
_WORK_S = float(os.environ.get("SLITHER_RELIABILITY_WORK_MS", "0.5")) / 1000


def parse(item: Item, ctx: Any) -> Any:
    return {**item.payload, "parsed": True}


def enrich(item: Item, ctx: Any) -> Any:
    if _WORK_S:
        time.sleep(_WORK_S)  # the stage's simulated workload
    return {**item.payload, "enriched": item.payload["n"] * 2}


def emit(item: Item, ctx: Any) -> Any:
    if _PROGRESS:
        print(f"RELIAB-OUT {item.payload['n']}", file=sys.stderr, flush=True)
    return {**item.payload, "pid": os.getpid()}


def three_stages(name: str, delivery: str) -> Pipe:
    pipe = Pipe(name, partitions=4, delivery=delivery)  # type: ignore[arg-type]
    pipe.local("parse", parse, batch_size=50)
    pipe.local("enrich", enrich, batch_size=20)
    pipe.local("emit", emit, batch_size=50)
    return pipe


at_least_once = three_stages("rel-alo", "at_least_once")
exactly_once = three_stages("rel-eos", "exactly_once")
