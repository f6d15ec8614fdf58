"""Local stages: a Python function per item (or one batch handler) in the consumer."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from slither_stream.context import Context
from slither_stream.item import Item
from slither_stream.pipe.engine.processors.base import StageProcessor
from slither_stream.pipe.results import (
    HANDLER_RESULT_TYPES,
    Failure,
    Outcome,
    as_outcome,
    interpret,
    interpret_batch,
)
from slither_stream.pipe.specs import LocalSpec

_PLAIN_PAYLOADS = frozenset({dict, list, str, bytes, int, float, bool, type(None)})
"""Payload types that are certainly no typed result: one set lookup per record
instead of an ``isinstance`` against the result classes (the per-record path)."""


class LocalProcessor(StageProcessor):
    """Runs ``handler(item, context)`` per item, or ``batch_handler(items, context)``."""

    def __init__(self, spec: LocalSpec) -> None:
        self.spec = spec
        self.handler = spec.handler
        self.batch_handler = spec.batch_handler
        self.cardinality: str = spec.cardinality

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
        assert handler is not None
        cardinality = self.cardinality
        fast = cardinality == "one"

        def one(item: Item) -> Any:
            try:
                value = handler(item, context)
            except Exception as error:
                return Failure.from_exception(error)
            kind = type(value)  # dict first: JSON's payload, no set lookup
            if fast and (kind is dict or kind in _PLAIN_PAYLOADS
                         or not isinstance(value, HANDLER_RESULT_TYPES)):
                return value
            return interpret(item, value, cardinality=cardinality)

        return one
