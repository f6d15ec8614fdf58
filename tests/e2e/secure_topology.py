"""Pipes the SASL_SSL tests run (``tests/e2e/secure_topology.py:alos_pipe``...)."""

from __future__ import annotations

from typing import Any

from slither_stream.item import Item
from slither_stream.pipe import Pipe


def tag(item: Item, ctx: Any) -> Any:
    """Pass the payload on, marked as seen by the stage."""
    return {**item.payload, "tagged": True}


alos_pipe = Pipe("secured", partitions=2).local("tag", tag, batch_size=10)
eos_pipe = Pipe("secured", partitions=2, delivery="exactly_once").local("tag", tag,
                                                                          batch_size=10)
