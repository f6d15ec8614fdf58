"""Pipes the worker tests run through ``slither worker`` (named ``file.py:attribute``)."""

from __future__ import annotations

import os
import sys
import threading
import time
from typing import Any

from slither_stream.item import Item
from slither_stream.pipe import Pipe


def tag(item: Item, ctx: Any) -> Any:
    """Record which worker (process and thread) handled the item."""
    return {**item.payload, "worker": f"{os.getpid()}:{threading.current_thread().name}"}


def slow_tag(item: Item, ctx: Any) -> Any:
    """``tag`` with a few milliseconds of simulated work, announcing each item."""
    time.sleep(0.004)  # the stage's workload, so a kill lands mid-stream
    print(f"processed {item.payload['n']} in pid {os.getpid()}", file=sys.stderr, flush=True)
    return tag(item, ctx)


eos_pipe = Pipe("workers", partitions=4, delivery="exactly_once").local("tag", tag,
                                                                         batch_size=5)
slow_pipe = Pipe("slow", partitions=4).local("tag", slow_tag, batch_size=10)


def busy_tag(item: Item, ctx: Any) -> Any:
    """``tag`` with a few milliseconds of simulated work, silently."""
    time.sleep(0.003)  # the stage's workload, so members overlap in time
    return tag(item, ctx)


busy_pipe = Pipe("busy", partitions=4).local("tag", busy_tag, batch_size=10)


def halt_on_13(item: Item, ctx: Any) -> Any:
    if item.payload["n"] == 13:
        raise ValueError("thirteen")
    return item.payload


halting_pipe = Pipe("halting", partitions=1).local("check", halt_on_13, batch_size=4)
