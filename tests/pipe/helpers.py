"""Small module-level functions the pipe tests name by import path."""

from __future__ import annotations

from typing import Any


def double_batch(payloads: list[Any]) -> list[Any]:
    """A compute function: doubles ``payload["x"]``."""
    return [{**p, "x": p["x"] * 2} for p in payloads]


def short_batch(payloads: list[Any]) -> list[Any]:
    """Breaks the compute contract: one result too few."""
    return payloads[:-1]


def explode_on_negative(payloads: list[Any]) -> list[Any]:
    """Raises when any payload has a negative ``x``."""
    if any(p["x"] < 0 for p in payloads):
        raise ValueError("negative x")
    return payloads


not_callable = 42
