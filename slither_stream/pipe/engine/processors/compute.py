"""Compute stages: batches of payloads dispatched to a compute pool.

The batches go through :mod:`slither_stream.dispatch` (strategies, bounded
``max_in_flight``, executors, timeouts), so every dispatch option a stage declares is
honoured. The compute contract is dispatch's: ``function(payloads) -> results``, one
result per payload in the same order; each result becomes its item's new payload.

Dispatch runs under a *skip* policy that hands failed batches back to this stage;
the pipe's own per-stage policy (halt, skip, retry, dead_letter) then acts per item, and a
retry re-dispatches only the failed items. ``executor`` is ``"threads"`` (default,
``max_in_flight`` threads), ``"inline"``, ``"processes"`` (``processes=N`` workers) or
an executor instance (which the stage uses but does not close). ``batch_by="key"``
is shorthand for ``strategy=KeyPartition()``: each batch holds items of one key.
When a batch fails, its items are tried once more one by one
(``isolate_failures=True``, the default), so only the items that fail on their own
meet the error policy.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from slither_stream import dispatch
from slither_stream.context import Context
from slither_stream.item import Item
from slither_stream.pipe.engine.processors.base import StageProcessor
from slither_stream.pipe.loading import resolve_function
from slither_stream.pipe.results import Emitted, Failure, Outcome
from slither_stream.pipe.specs import ComputeSpec


class ComputeProcessor(StageProcessor):
    """Dispatches the stage's items in bounded, ordered batches."""

    def __init__(self, spec: ComputeSpec) -> None:
        self.spec = spec
        self.function: Callable[..., Any] = resolve_function(
            spec.function, what=f"compute function of stage {spec.name!r}")
        self.batch_size: int = spec.batch_size
        self.max_in_flight: int = spec.max_in_flight
        strategy = spec.strategy
        if strategy is None and spec.batch_by == "key":
            strategy = dispatch.KeyPartition()
        self.strategy = strategy
        self.isolate_failures = spec.isolate_failures
        self._executor: Any = None
        self._owns_executor = False

    @property
    def executor(self) -> Any:
        """The stage's executor, created on first use."""
        if self._executor is None:
            chosen = self.spec.executor
            if not isinstance(chosen, str):
                self._executor = chosen
                return chosen
            if chosen == "inline":
                self._executor = dispatch.Inline(self.function)
            elif chosen == "processes":
                self._executor = dispatch.Processes(
                    self.spec.function, processes=self.spec.processes)
            else:
                self._executor = dispatch.Threads(self.function, max_workers=self.max_in_flight)
            self._owns_executor = True
        return self._executor

    def process(self, items: Sequence[Item], context: Context) -> list[Outcome]:
        if not items:
            return []
        # Dispatch by position so results map back even if two items share an id
        # (an input produced twice under at-least-once).
        tagged = [Item(id=position, payload=item.payload, key=item.key, meta=item.meta)
                  for position, item in enumerate(items)]
        results, failures, shared = self._dispatch(tagged, context, self.batch_size,
                                                   self.strategy)
        if shared and self.isolate_failures:
            # A batch fails as a whole; find the items that fail on their own so one
            # bad record does not take its batch-mates to the dead-letter topic.
            alone = [tagged[position] for position in sorted(shared)]
            retried, still_failed, _ = self._dispatch(alone, context, 1, None)
            results.update(retried)
            for position in retried:
                failures.pop(position, None)
            failures.update(still_failed)
        outcomes: list[Outcome] = []
        for position, item in enumerate(items):
            if position in results:
                outcomes.append(Emitted((item.update_payload(results[position]),)))
            else:
                outcomes.append(failures.get(position) or Failure(
                    "ComputeError", f"compute stage {self.spec.name!r} lost item {item.id}"))
        return outcomes

    def _dispatch(self, tagged: list[Item], context: Context, batch_size: int,
                  strategy: Any) -> tuple[dict[int, Any], dict[int, Failure], set[int]]:
        """Results and failures by position, and the positions that failed in a batch
        of more than one item."""
        failures: dict[int, Failure] = {}
        shared: set[int] = set()

        def failed(batch: list[Item], error: BaseException) -> None:
            failure = _failure(error)
            for entry in batch:
                failures[entry.id] = failure
                if len(batch) > 1:
                    shared.add(entry.id)

        options: dict[str, Any] = {
            "executor": self.executor,
            "batch_size": batch_size,
            "max_in_flight": self.max_in_flight,
            "ordering": "preserve",
            "on_error": dispatch.Skip(on_skip=failed),
            "context": context,
        }
        if strategy is not None:
            options["strategy"] = strategy
        if self.spec.timeout is not None:
            options["timeout"] = self.spec.timeout
        results = {result.id: result.payload for result in dispatch.run(tagged, **options)}
        return results, failures, shared

    def close(self) -> None:
        executor, self._executor = self._executor, None
        if executor is not None and self._owns_executor:
            close = getattr(executor, "close", None)
            if callable(close):
                close()


def _failure(error: BaseException) -> Failure:
    """A Failure naming the user's error type when the executor reported one."""
    error_type = getattr(error, "error_type", None)
    base = Failure.from_exception(error)
    if isinstance(error_type, str) and error_type:
        return Failure(error_type, str(error.args[0]) if error.args else str(error),
                       base.detail)
    return base
