"""What a stage counts about finished records, tallied per batch.

A stage counts a record once it is committed (its writes acknowledged, its offset
committed; under exactly_once, its transaction committed). The batch's
plan counts its writes as it yields them
(:class:`~slither_stream.pipe.engine.planning.BatchWrites`),
and the stage keeps only these counts until then: a few integers per batch rather
than every write (which would hold one small orjson buffer per record until the
commit).
"""

from __future__ import annotations

from typing import Protocol


class Tally:
    """Counts of finished input records and of their writes."""

    __slots__ = ("consumed", "dead_lettered", "forwarded", "outputs", "skipped")

    def __init__(self) -> None:
        self.consumed = 0
        self.skipped = 0
        """Records with no write but store writes (skipped or filtered out)."""
        self.forwarded = 0
        """Writes to the next stage."""
        self.dead_lettered = 0
        self.outputs: dict[str, int] = {}
        """Writes per pipe output."""

    def wrote(self, output: str | None, count: int) -> None:
        """Count ``count`` writes to the pipe output ``output`` (None: the next stage)."""
        if output is None:
            self.forwarded += count
        else:
            self.outputs[output] = self.outputs.get(output, 0) + count

    def add_to(self, counts: Counts) -> None:
        """Add these counts to ``counts``: another tally, or a stage's stats."""
        counts.consumed += self.consumed
        counts.skipped += self.skipped
        counts.forwarded += self.forwarded
        counts.dead_lettered += self.dead_lettered
        outputs = counts.outputs
        for name, count in self.outputs.items():
            outputs[name] = outputs.get(name, 0) + count


class Counts(Protocol):
    """Where a tally's counts add up (:class:`Tally`, a stage's stats)."""

    consumed: int
    skipped: int
    forwarded: int
    dead_lettered: int
    outputs: dict[str, int]
