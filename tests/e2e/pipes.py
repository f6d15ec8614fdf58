"""Pipes and stage functions shared by the end-to-end tests (importable by workers)."""

from __future__ import annotations

import threading
from typing import Any

from slither_stream.item import Item
from slither_stream.pipe import Pipe


def add_one(item: Item, ctx: Any) -> Any:
    return {**item.payload, "x": item.payload["x"] + 1}


def fail_on_seven(item: Item, ctx: Any) -> Any:
    if item.payload["x"] == 7:
        raise ValueError(f"seven is not allowed (id {item.id})")
    return item.payload


def split_words(item: Item, ctx: Any) -> Any:
    return item.payload["text"].split()


def is_big(item: Item) -> bool:
    return bool(item.payload["x"] >= 10)


def is_even(item: Item) -> bool:
    return item.payload["x"] % 2 == 0


def square_batch(payloads: list[dict[str, int]]) -> list[dict[str, int]]:
    return [{**p, "x": p["x"] * p["x"]} for p in payloads]


class Flaky:
    """Fails the first ``failures`` calls per x value, then succeeds (thread-safe)."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls: dict[int, int] = {}
        self.lock = threading.Lock()

    def __call__(self, item: Item, ctx: Any) -> Any:
        with self.lock:
            seen = self.calls.get(item.payload["x"], 0)
            self.calls[item.payload["x"]] = seen + 1
        if item.payload["x"] % 3 == 0 and seen < self.failures:
            raise RuntimeError(f"flaky failure {seen + 1}")
        return item.payload


def scoring_like(partitions: int = 2, delivery: str = "at_least_once") -> Pipe:
    """local -> compute -> router, the quick start's shape on toy numbers."""
    pipe = Pipe("toy", partitions=partitions, delivery=delivery)  # type: ignore[arg-type]
    pipe.local("inc", add_one)
    pipe.compute("square", "tests.e2e.pipes:square_batch", batch_size=4, max_in_flight=2)
    pipe.router("route", [(is_big, "big"), (is_even, "even")])
    pipe.outputs("big", "even")
    return pipe
