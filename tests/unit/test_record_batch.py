"""A RecordBatch must behave as the list of records it stands for: same records by
index, slice and iteration, and the same per-partition first and last offsets as
reading them record by record."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from slither_stream.log.record_batch import RecordBatch
from slither_stream.log.types import Record

_partition = st.tuples(st.sampled_from(["a", "b"]), st.integers(0, 2))
_headers = st.lists(st.tuples(st.sampled_from(["h", "slither.id"]), st.binary(max_size=3)),
                    max_size=2).map(tuple)
_fields = st.lists(st.tuples(_partition, st.none() | st.binary(max_size=4),
                             st.none() | st.binary(max_size=4), _headers,
                             st.integers(0, 2**41)), max_size=30)


Fields = list[tuple[tuple[str, int], bytes | None, bytes | None,
                    tuple[tuple[str, bytes], ...], int]]


def _records(fields: Fields) -> list[Record]:
    """Records in offset order per partition, with gaps, partitions interleaved."""
    next_offset: dict[tuple[str, int], int] = {}
    records = []
    for (topic, partition), key, value, headers, timestamp in fields:
        offset = next_offset.get((topic, partition), 0)
        next_offset[(topic, partition)] = offset + 2
        records.append(Record(topic, partition, offset, key, value, headers, timestamp))
    return records


@settings(max_examples=200, deadline=None)
@given(fields=_fields, start=st.integers(-35, 35), stop=st.integers(-35, 35))
def test_a_batch_reads_as_its_records(fields: Fields, start: int, stop: int) -> None:
    records = _records(fields)
    batch = RecordBatch.of(records)
    assert len(batch) == len(records)
    assert list(batch) == records
    assert [batch[i] for i in range(-len(records), len(records))] == [*records, *records]
    piece = batch[start:stop]
    assert isinstance(piece, RecordBatch)
    assert list(piece) == records[start:stop]
    assert batch == records
    assert RecordBatch.of(batch) is batch


@settings(max_examples=200, deadline=None)
@given(fields=_fields)
def test_first_and_last_offsets_per_partition(fields: Fields) -> None:
    records = _records(fields)
    batch = RecordBatch.of(records)
    last = {(r.topic, r.partition): r.offset for r in records}
    assert batch.last_offsets() == last
    assert list(batch.last_offsets()) == list(last)  # order of first appearance
    assert batch.first_offsets() == {(r.topic, r.partition): r.offset
                                     for r in reversed(records)}


def _one_topic_batch(records: list[Record]) -> RecordBatch:
    """``records`` of topic "a" as a batch that knows its one topic (as the Kafka
    consumer builds them)."""
    mine = [r for r in records if r.topic == "a"]
    columns = RecordBatch.of(mine)
    return RecordBatch(topics=columns.topics, partitions=columns.partitions,
                       offsets=columns.offsets, keys=columns.keys, values=columns.values,
                       headers=columns.headers, timestamps=columns.timestamps,
                       only_topic="a")


@settings(max_examples=200, deadline=None)
@given(fields=_fields, start=st.integers(-35, 35), stop=st.integers(-35, 35))
def test_a_batch_of_one_topic_reads_its_offsets_the_same(fields: Fields, start: int,
                                                           stop: int) -> None:
    records = [r for r in _records(fields) if r.topic == "a"]
    batch = _one_topic_batch(records)
    assert list(batch) == records
    last = {(r.topic, r.partition): r.offset for r in records}
    assert batch.last_offsets() == last
    assert list(batch.last_offsets()) == list(last)
    assert batch.first_offsets() == {(r.topic, r.partition): r.offset
                                     for r in reversed(records)}
    piece = batch[start:stop]
    assert piece.only_topic == "a"
    assert piece.last_offsets() == {(r.topic, r.partition): r.offset
                                    for r in records[start:stop]}
    kept = batch.where(lambda _topic, partition: partition != 1)
    assert kept.first_offsets() == {(r.topic, r.partition): r.offset
                                    for r in reversed(records) if r.partition != 1}


@settings(max_examples=200, deadline=None)
@given(runs=st.lists(st.tuples(st.integers(0, 40), st.integers(1, 6)), max_size=40))
def test_a_batch_of_many_partitions_reads_its_offsets_the_same(
        runs: list[tuple[int, int]]) -> None:
    """Up to 41 partitions in runs of records, as a poll returns them: above 16
    partitions the offsets are read another way, with the same results."""
    next_offset: dict[int, int] = {}
    records = []
    for partition, length in runs:
        for _ in range(length):
            offset = next_offset.get(partition, 0)
            next_offset[partition] = offset + 1
            records.append(Record("a", partition, offset, None, b"v", (), 0))
    batch = _one_topic_batch(records)
    last = {(r.topic, r.partition): r.offset for r in records}
    assert batch.last_offsets() == last
    assert list(batch.last_offsets()) == list(last)
    assert batch.first_offsets() == {(r.topic, r.partition): r.offset
                                     for r in reversed(records)}


def test_last_offsets_are_read_once_and_handed_out_as_copies() -> None:
    batch = _one_topic_batch([Record("a", 0, 4, None, b"v", (), 1),
                              Record("a", 1, 7, None, b"w", (), 1)])
    first = batch.last_offsets()
    first[("a", 0)] = 99
    assert batch.last_offsets() == {("a", 0): 4, ("a", 1): 7}
    assert batch.last_offsets() is not batch.last_offsets()


def test_joining_batches_of_different_topics_forgets_the_one_topic() -> None:
    first = _one_topic_batch([Record("a", 0, 4, None, b"v", (), 1)])
    second = RecordBatch.of([Record("b", 0, 9, None, b"w", (), 2)])
    joined = first + second
    assert joined.only_topic is None
    assert joined.last_offsets() == {("a", 0): 4, ("b", 0): 9}
    assert (first + first).only_topic == "a"


@settings(max_examples=200, deadline=None)
@given(fields=_fields, dropped=st.sets(_partition), more=_fields)
def test_filter_and_concatenate(fields: Fields, dropped: set[tuple[str, int]],
                                more: Fields) -> None:
    records = _records(fields)
    batch = RecordBatch.of(records)
    kept = batch.where(lambda topic, partition: (topic, partition) not in dropped)
    assert list(kept) == [r for r in records if (r.topic, r.partition) not in dropped]
    others = _records(more)
    assert list(batch + RecordBatch.of(others)) == records + others


def test_timestamps_are_computed_once_and_only_when_read() -> None:
    calls = []

    def column() -> list[int]:
        calls.append(1)
        return [7, 8]

    batch = RecordBatch(topics=["t", "t"], partitions=[0, 1], offsets=[5, 6],
                        keys=[b"k", None], values=[b"v", b"w"], headers=[(), ()],
                        timestamps=column)
    assert batch.last_offsets() == {("t", 0): 5, ("t", 1): 6}
    assert batch.values == [b"v", b"w"]
    assert calls == []
    assert batch[1] == Record("t", 1, 6, None, b"w", (), 8)
    assert [r.timestamp_ms for r in batch] == [7, 8]
    assert calls == [1]


def test_a_batch_is_not_equal_to_different_records() -> None:
    records = _records([(("a", 0), None, b"v", (), 1), (("a", 0), None, b"w", (), 2)])
    batch = RecordBatch.of(records)
    assert batch != records[:1]
    assert batch != [records[0], Record("a", 0, 2, None, b"x", (), 2)]
    assert batch != "not records"
