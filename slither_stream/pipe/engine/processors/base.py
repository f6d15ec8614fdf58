"""The processor seam every stage kind implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import Any

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

    def one_at_a_time(self, context: Context) -> Callable[[Item], Any] | None:
        """The outcome of one item, for a stage whose items depend neither on each
        other nor on their batch; None (the default) if the stage needs the batch.
        With it the stage processes, encodes and produces each record before it
        processes the next (see :class:`~slither_stream.pipe.engine.planning.BatchWrites`).

        The function returns an :data:`~slither_stream.pipe.results.Outcome`, or,
        for the commonest outcome, one item emitted to the stage's default target,
        either as that :class:`Item` or as just the input item's new payload (any
        value that is neither; see :func:`~slither_stream.pipe.results.as_outcome`):
        no ``Emit``, and no Item for a new payload, built and taken apart per record.
        """
        return None

    def close(self) -> None:
        """Release resources (pools, threads). Idempotent; most stages hold none."""
        return None
