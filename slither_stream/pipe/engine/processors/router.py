"""Router stages: predicates in order, first match wins, unmatched to ``default``."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from slither_stream.context import Context
from slither_stream.item import Item
from slither_stream.pipe.engine.processors.base import StageProcessor
from slither_stream.pipe.results import Emitted, Failure, Outcome
from slither_stream.pipe.specs import DEFAULT_OUTPUT, RouterSpec


class RouterProcessor(StageProcessor):
    """Tags each item with the output of the first predicate that accepts it."""

    def __init__(self, spec: RouterSpec) -> None:
        self.spec = spec
        self.routes = spec.routes

    def process(self, items: Sequence[Item], context: Context) -> list[Outcome]:
        return [self._route(item) for item in items]

    def one_at_a_time(self, context: Context) -> Callable[[Item], Outcome | Item]:
        return self._route

    def _route(self, item: Item) -> Outcome:
        for rule in self.routes:
            try:
                matched = rule.predicate(item)
            except Exception as error:
                return Failure.from_exception(error)
            if matched:
                return Emitted((item.with_route(rule.output),), rule.output)
        return Emitted((item.with_route(DEFAULT_OUTPUT),), DEFAULT_OUTPUT)
