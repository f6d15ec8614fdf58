"""The records of one poll, kept as columns rather than as one object per record.

A stage reads three fields of each record on its hot path (value, key, headers) and
the position of each partition once per batch; building a :class:`Record` per
record for that (a Python ``__init__`` call each) costs more than reading the
fields out of librdkafka's messages. :class:`RecordBatch` holds one
list per field, reads positions by C loops over the partition and offset
columns, and builds a :class:`Record` only when one is asked for by index (a dead
letter, a halt, a log line), so the rare paths see the same records as before.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import overload

from slither_stream.log.types import Headers, Record


class RecordBatch(Sequence[Record]):
    """Records of one poll, as columns of equal length (see the module docstring).

    Treat it and its columns as immutable. ``timestamps`` may be given as a
    function that computes the column, called the first time it is read (no stage
    reads it per record)."""

    __slots__ = ("_last_offsets", "_timestamps", "headers", "keys", "offsets", "only_topic",
                 "partitions", "topics", "values")

    def __init__(self, *, topics: Sequence[str], partitions: Sequence[int],
                 offsets: Sequence[int], keys: Sequence[bytes | None],
                 values: Sequence[bytes | None], headers: Sequence[Headers],
                 timestamps: Sequence[int] | Callable[[], Sequence[int]],
                 only_topic: str | None = None) -> None:
        self.topics = topics
        self.only_topic = only_topic
        """The topic of every record, when whoever built the batch knows there is
        one (per-partition offsets are then read without a tuple per record)."""
        self.partitions = partitions
        self.offsets = offsets
        self.keys = keys
        self.values = values
        self.headers = headers
        self._timestamps = timestamps
        self._last_offsets: dict[tuple[str, int], int] | None = None

    @classmethod
    def of(cls, records: Sequence[Record]) -> RecordBatch:
        """``records`` as a batch (itself if it is one already)."""
        if isinstance(records, RecordBatch):
            return records
        return cls(topics=[r.topic for r in records],
                   partitions=[r.partition for r in records],
                   offsets=[r.offset for r in records], keys=[r.key for r in records],
                   values=[r.value for r in records], headers=[r.headers for r in records],
                   timestamps=[r.timestamp_ms for r in records])

    @property
    def timestamps(self) -> Sequence[int]:
        column = self._timestamps
        if callable(column):
            column = self._timestamps = column()
        return column

    def __len__(self) -> int:
        return len(self.offsets)

    @overload
    def __getitem__(self, index: int) -> Record: ...

    @overload
    def __getitem__(self, index: slice) -> RecordBatch: ...

    def __getitem__(self, index: int | slice) -> Record | RecordBatch:
        if isinstance(index, slice):
            return RecordBatch(topics=self.topics[index], partitions=self.partitions[index],
                               offsets=self.offsets[index], keys=self.keys[index],
                               values=self.values[index], headers=self.headers[index],
                               timestamps=self.timestamps[index], only_topic=self.only_topic)
        return Record(self.topics[index], self.partitions[index], self.offsets[index],
                      self.keys[index], self.values[index], self.headers[index],
                      self.timestamps[index])

    def __iter__(self) -> Iterator[Record]:
        return map(Record, self.topics, self.partitions, self.offsets, self.keys,
                   self.values, self.headers, self.timestamps)

    def __add__(self, other: RecordBatch) -> RecordBatch:
        if not other:
            return self
        if not self:
            return other
        return RecordBatch(topics=[*self.topics, *other.topics],
                           partitions=[*self.partitions, *other.partitions],
                           offsets=[*self.offsets, *other.offsets],
                           keys=[*self.keys, *other.keys], values=[*self.values, *other.values],
                           headers=[*self.headers, *other.headers],
                           timestamps=[*self.timestamps, *other.timestamps],
                           only_topic=self.only_topic if self.only_topic == other.only_topic
                           else None)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, RecordBatch | list | tuple):
            return len(self) == len(other) and all(map(Record.__eq__, self, other))
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # mutable columns, as a list

    def __repr__(self) -> str:
        return f"RecordBatch({list(self)!r})"

    def last_offsets(self) -> dict[tuple[str, int], int]:
        """The last record's offset per ``(topic, partition)``, in order of first
        appearance. Computed once per batch (the consumer and the stage's offset
        tracker both ask); each call returns a new dict."""
        last = self._last_offsets
        if last is None:
            topic = self.only_topic
            if topic is None:
                last = dict(zip(zip(self.topics, self.partitions, strict=True), self.offsets,
                                strict=True))
            else:
                last = {(topic, partition): self.offsets[position] for partition, position
                        in _positions(self.partitions, last=True).items()}
            self._last_offsets = last
        return dict(last)

    def first_offsets(self) -> dict[tuple[str, int], int]:
        """The first record's offset per ``(topic, partition)`` (order unspecified)."""
        topic = self.only_topic
        if topic is not None:
            return {(topic, partition): self.offsets[position] for partition, position
                    in _positions(self.partitions, last=False).items()}
        return dict(zip(zip(reversed(self.topics), reversed(self.partitions), strict=True),
                        reversed(self.offsets), strict=True))

    def where(self, keep: Callable[[str, int], bool]) -> RecordBatch:
        """The records of the partitions ``keep(topic, partition)`` accepts."""
        chosen = [position for position, kept
                  in enumerate(map(keep, self.topics, self.partitions)) if kept]
        if len(chosen) == len(self):
            return self
        timestamps = self.timestamps
        return RecordBatch(topics=[self.topics[p] for p in chosen],
                           partitions=[self.partitions[p] for p in chosen],
                           offsets=[self.offsets[p] for p in chosen],
                           keys=[self.keys[p] for p in chosen],
                           values=[self.values[p] for p in chosen],
                           headers=[self.headers[p] for p in chosen],
                           timestamps=[timestamps[p] for p in chosen],
                           only_topic=self.only_topic)


_SEARCHED_PARTITIONS = 16
"""Up to this many partitions in a batch, :func:`_positions` searches for each;
beyond, one dict insert per record costs less than a search per partition."""


def _positions(partitions: Sequence[int], *, last: bool) -> dict[int, int]:
    """Each partition's first (or last) position in ``partitions``, in order of first
    appearance. A poll returns each partition's records as a few long runs, so a C
    search per partition (``index``) reads far fewer items than a dict insert per
    record."""
    distinct = dict.fromkeys(partitions, 0)
    if len(distinct) > _SEARCHED_PARTITIONS:
        positions = range(len(partitions))
        if last:
            return {**distinct, **dict(zip(partitions, positions, strict=True))}
        return {**distinct, **dict(zip(reversed(partitions), reversed(positions),
                                       strict=True))}
    if not last:
        return {partition: partitions.index(partition) for partition in distinct}
    backwards = partitions[::-1]
    end = len(partitions) - 1
    return {partition: end - backwards.index(partition) for partition in distinct}
