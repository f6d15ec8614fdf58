"""A pipe with keyed state that the state-query tests run (``file.py:attribute``)."""

from __future__ import annotations

from typing import Any

from slither_stream.item import Item
from slither_stream.pipe import Pipe


def count(item: Item, ctx: Any) -> Any:
    """A running count and sum per key, kept in the stage's keyed state."""
    running = ctx.state.get({"n": 0, "sum": 0})
    running = {"n": running["n"] + 1, "sum": running["sum"] + item.payload["amount"]}
    ctx.state.set(running)
    return {"user": item.payload["user"], **running}


counts_pipe = Pipe("counts", partitions=4, commit_interval_ms=200)
counts_pipe.local("count", count, state=["totals"], batch_size=50)
