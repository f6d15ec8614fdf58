"""Compute stages: batches of payloads sent to a batch function, results in order.

The compute contract is dispatch's: ``function(payloads) -> results`` with one result
per payload in the same order (a function that declares a ``context`` parameter also
gets the run :class:`Context`, for store views). A batch that raises or breaks the
contract fails every item in it; the stage's policy then applies per item, and a
retry re-sends only the failed items.

Batches are bounded in flight (``max_in_flight``) on a pool owned by the stage.
``batch_by="key"`` forms key-partitioned batches: every batch holds items of one key,
in input order (useful when the model amortises per-key work).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from slither_stream.context import Context
from slither_stream.errors import ConfigError
from slither_stream.item import Item
from slither_stream.pipe.loading import resolve_function
from slither_stream.pipe.results import Emit, Failure, Outcome
from slither_stream.pipe.specs import StageSpec
from slither_stream.pipe.stages.base import StageProcessor

BATCH_BY = ("arrival", "key")


class ComputeProcessor(StageProcessor):
    """Runs the stage's batch function on bounded, ordered batches."""

    def __init__(self, spec: StageSpec) -> None:
        self.spec = spec
        self.function: Callable[..., Any] = resolve_function(
            spec.option("function"), what=f"compute function of stage {spec.name!r}")
        self.batch_size: int = spec.batch_size
        self.max_in_flight: int = int(spec.option("max_in_flight", 4))
        self.batch_by: str = spec.option("batch_by", "arrival")
        if self.batch_by not in BATCH_BY:
            raise ConfigError(
                f"compute stage {spec.name!r}: batch_by must be 'arrival' or 'key', "
                f"not {self.batch_by!r}"
            )
        self.wants_context = _accepts_context(self.function)
        self._pool: ThreadPoolExecutor | None = None

    def process(self, items: Sequence[Item], context: Context) -> list[Outcome]:
        if not items:
            return []
        batches = self.batches(items)
        if len(batches) == 1 or self.max_in_flight == 1:
            results = [self._run_batch([items[i] for i in batch], context) for batch in batches]
        else:
            pool = self._ensure_pool()
            futures: list[Future[list[Outcome]]] = [
                pool.submit(self._run_batch, [items[i] for i in batch], context)
                for batch in batches
            ]
            results = [future.result() for future in futures]
        outcomes: list[Outcome | None] = [None] * len(items)
        for batch, batch_outcomes in zip(batches, results, strict=True):
            for position, outcome in zip(batch, batch_outcomes, strict=True):
                outcomes[position] = outcome
        return [outcome for outcome in outcomes if outcome is not None]

    def batches(self, items: Sequence[Item]) -> list[list[int]]:
        """Positions of ``items`` grouped into batches (arrival order or per key)."""
        if self.batch_by == "key":
            by_key: dict[Any, list[int]] = {}
            for position, item in enumerate(items):
                by_key.setdefault(item.key, []).append(position)
            groups = list(by_key.values())
        else:
            groups = [list(range(len(items)))]
        return [group[start:start + self.batch_size]
                for group in groups for start in range(0, len(group), self.batch_size)]

    def _run_batch(self, batch: list[Item], context: Context) -> list[Outcome]:
        payloads = [item.payload for item in batch]
        try:
            if self.wants_context:
                results = self.function(payloads, context=context)
            else:
                results = self.function(payloads)
            results = list(results)
        except Exception as error:
            failure = Failure.from_exception(error)
            return [failure for _ in batch]
        if len(results) != len(batch):
            failure = Failure(
                "ComputeError",
                f"compute function of stage {self.spec.name!r} returned {len(results)} "
                f"results for a batch of {len(batch)}",
            )
            return [failure for _ in batch]
        return [Emit((item.update_payload(result),)) for item, result in
                zip(batch, results, strict=True)]

    def _ensure_pool(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(
                max_workers=self.max_in_flight,
                thread_name_prefix=f"slither-compute-{self.spec.name}",
            )
        return self._pool

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None


def _accepts_context(function: Callable[..., Any]) -> bool:
    try:
        parameters = inspect.signature(function).parameters
    except (TypeError, ValueError):
        return False
    return "context" in parameters
