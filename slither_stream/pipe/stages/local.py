"""Local stages: a Python function per item (or one batch handler) in the consumer."""

from __future__ import annotations

from collections.abc import Sequence

from slither_stream.context import Context
from slither_stream.item import Item
from slither_stream.pipe import state
from slither_stream.pipe.results import Emit, Failure, Outcome, interpret, interpret_batch
from slither_stream.pipe.specs import StageSpec
from slither_stream.pipe.stages.base import StageProcessor

_TAGGED_OR_ITEM = (tuple, Item)
"""Handler results that need :func:`interpret` (anything else is the new payload)."""


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
        return self._each(items, context)

    def _each(self, items: Sequence[Item], context: Context) -> list[Outcome]:
        """``handler(item, context)`` per item, interpreted as :func:`interpret`
        does; the commonest result (a new payload: not a tagged tuple, not an Item,
        cardinality one) becomes its Emit right here: this loop runs once per
        record, and the general path costs several calls more."""
        handler = self.handler
        cardinality = self.cardinality
        fast = cardinality == "one"
        outcomes: list[Outcome] = []
        append = outcomes.append
        for item in items:
            try:
                value = handler(item, context)
            except Exception as error:
                append(Failure.from_exception(error))
                continue
            if fast and not isinstance(value, _TAGGED_OR_ITEM):
                append(Emit((Item(item.id, value, item.key, item.meta, item.route),)))
            else:
                append(interpret(item, value, cardinality=cardinality))
        return outcomes

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
