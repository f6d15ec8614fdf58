"""Local stages: a Python function per item (or one batch handler) in the consumer."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from slither_stream.context import Context
from slither_stream.item import Item
from slither_stream.pipe import state
from slither_stream.pipe.engine.processors.base import StageProcessor
from slither_stream.pipe.results import (
    RESULT_TYPES,
    Failure,
    Outcome,
    as_outcome,
    interpret,
    interpret_batch,
)
from slither_stream.pipe.specs import StageSpec

_TAGGED_OR_ITEM = (tuple, Item)
"""Handler results that need :func:`interpret` (anything else is the new payload)."""

_NOT_A_PAYLOAD = (*_TAGGED_OR_ITEM, *RESULT_TYPES)
"""Results the per-item function cannot hand on as a new payload as they are."""

_PLAIN_PAYLOADS = frozenset({dict, list, str, bytes, int, float, bool, type(None)})
"""Payload types that are certainly none of those: one set lookup per record instead
of an ``isinstance`` against five classes (measured 1,400 of 34,000 instructions per
record of the benchmark's passthrough stage)."""


class LocalProcessor(StageProcessor):
    """Runs ``handler(item, context)`` per item, or ``batch_handler(items, context)``."""

    def __init__(self, spec: StageSpec) -> None:
        self.spec = spec
        self.handler = spec.option("handler")
        self.batch_handler = spec.option("batch_handler")
        self.cardinality: str = spec.option("cardinality", "one")

    def process(self, items: Sequence[Item], context: Context) -> list[Outcome]:
        if not items:
            return []
        if self.batch_handler is not None:
            try:
                value = self.batch_handler(list(items), context)
            except Exception as error:
                failure = Failure.from_exception(error)
                return [failure for _ in items]
            outcomes = interpret_batch(items, value, cardinality=self.cardinality)
            if outcomes is not None:
                return outcomes
            if self.handler is None:
                failure = Failure("StageError", f"batch handler of stage {self.spec.name!r} "
                                  "asked for per-item processing but no handler is declared")
                return [failure for _ in items]
        if state.buffering_active():
            return [self._one_scoped(item, context) for item in items]
        one = self._one(context)
        return [as_outcome(one(item), item) for item in items]

    def one_at_a_time(self, context: Context) -> Callable[[Item], Any] | None:
        if self.batch_handler is not None:
            return None
        return self._one(context)

    def _one(self, context: Context) -> Callable[[Item], Any]:
        """``handler(item, context)`` interpreted as :func:`interpret` does, except
        that the commonest result (a new payload: not a tagged tuple, not an Item,
        cardinality one) is returned as it is (see
        :meth:`~slither_stream.pipe.engine.processors.base.StageProcessor.one_at_a_time`): this
        runs once per record, and the general path costs several calls more."""
        handler = self.handler
        cardinality = self.cardinality
        fast = cardinality == "one"

        def one(item: Item) -> Any:
            try:
                value = handler(item, context)
            except Exception as error:
                return Failure.from_exception(error)
            kind = type(value)  # dict first: JSON's payload, no set lookup
            if fast and (kind is dict or kind in _PLAIN_PAYLOADS
                         or not isinstance(value, _NOT_A_PAYLOAD)):
                return value
            return interpret(item, value, cardinality=cardinality)

        return one

    def _one_scoped(self, item: Item, context: Context) -> Outcome:
        """``handler(item, context)`` with store writes attributed to ``item``
        (exactly_once), interpreted."""
        previous = state.attribute(item)
        try:
            value = self.handler(item, context)
        except Exception as error:
            return Failure.from_exception(error)
        finally:
            state.restore(previous)
        return interpret(item, value, cardinality=self.cardinality)
