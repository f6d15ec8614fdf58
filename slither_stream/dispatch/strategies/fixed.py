"""FixedBatch: consecutive chunks of at most ``batch_size`` items, in input order."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from slither_stream.errors import ConfigError
from slither_stream.item import Item


@dataclass(frozen=True)
class FixedBatch:
    """Chunks of ``batch_size`` items (the last one may be shorter).

    ``batch_size=None`` uses the run's ``batch_size`` option, which is how the default
    strategy follows ``dispatch.run(..., batch_size=32)``. The strategy pulls exactly
    one batch worth of items per batch, never more, so the runner's in-flight bound is
    also a bound on how far the input is read ahead.
    """

    batch_size: int | None = None

    def __post_init__(self) -> None:
        size = self.batch_size
        if size is not None and (isinstance(size, bool) or not isinstance(size, int)
                                 or size < 1):
            raise ConfigError(f"FixedBatch batch_size must be an int >= 1, got {size!r}")

    def batches(self, items: Iterable[Item], batch_size: int) -> Iterator[list[Item]]:
        size = self.batch_size or batch_size
        batch: list[Item] = []
        for item in items:
            batch.append(item)
            if len(batch) >= size:
                yield batch
                batch = []
        if batch:
            yield batch
