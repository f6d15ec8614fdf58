"""A planned batch for the stage writers' tests: given writes, every record done."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from slither_stream.log.types import Outgoing, Record
from slither_stream.pipe.engine.tally import Tally


class Planned:
    """What :class:`~slither_stream.pipe.engine.planning.BatchWrites` gives a writer:
    ``writes`` in order, all of ``records`` done, ``tally`` as counted. Like the
    real one, it can be iterated once only."""

    def __init__(self, records: Sequence[Record], writes: Sequence[Outgoing],
                 tally: Tally | None = None) -> None:
        self.records = records
        self.done = records
        self.tally = tally or Tally()
        self._writes: Iterator[Outgoing] | None = iter(writes)

    def __iter__(self) -> Iterator[Outgoing]:
        writes, self._writes = self._writes, None
        assert writes is not None, "a planned batch is iterated once"
        return writes
