"""The processor seam every stage kind implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence

from slither_stream.context import Context
from slither_stream.item import Item
from slither_stream.pipe.results import Outcome


class StageProcessor(ABC):
    """Turns a batch of items into one outcome per item, in input order.

    ``process`` must not raise for an item's failure: it returns a
    :class:`~slither_stream.pipe.results.Failure` for that item so the stage's error
    policy can act on it. Retrying calls ``process`` again with the failed items.
    """

    @abstractmethod
    def process(self, items: Sequence[Item], context: Context) -> list[Outcome]:
        """One outcome per item, aligned with ``items``."""

    def one_at_a_time(self, context: Context) -> Callable[[Item], Outcome | Item] | None:
        """The outcome of one item, for a stage whose items depend neither on each
        other nor on their batch; None (the default) if the stage needs the batch.
        With it the stage processes, encodes and produces each record before it
        processes the next (see :class:`~slither_stream.pipe.planning.BatchWrites`).
        The function may return the one item it emits to the stage's default target
        as it is (:func:`~slither_stream.pipe.results.as_outcome`), the commonest
        outcome, without an ``Emit`` built and taken apart per record."""
        return None

    def close(self) -> None:
        """Release resources (pools, threads). Idempotent; most stages hold none."""
        return None
