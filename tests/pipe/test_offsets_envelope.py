from __future__ import annotations

import pytest

from slither_stream.errors import SerializationError
from slither_stream.item import Item
from slither_stream.log.types import Record, TopicPartition
from slither_stream.pipe.engine.dlq import DeadLetter, dead_letter_headers
from slither_stream.pipe.engine.envelope import Envelope, PlainEnvelope, envelope_for
from slither_stream.pipe.engine.offsets import OffsetTracker

TP0 = TopicPartition("t", 0)
TP1 = TopicPartition("t", 1)


def records(tp: TopicPartition, *offsets: int) -> list[Record]:
    return [Record(tp.topic, tp.partition, offset, None, b"v") for offset in offsets]


def test_commit_one_past_the_last_finished_record_per_partition() -> None:
    tracker = OffsetTracker()
    tracker.finished(records(TP0, 3, 4) + records(TP1, 0) + records(TP0, 7))
    assert tracker.committable() == {TP0: 8, TP1: 1}
    assert tracker.committable() == {TP0: 8, TP1: 1}  # not confirmed yet: offered again
    assert tracker.uncommitted()
    tracker.confirm({TP0: 8, TP1: 1})
    assert tracker.committable() == {}  # no new progress, nothing to commit again
    assert not tracker.uncommitted()
    tracker.finished(records(TP0, 9))
    assert tracker.committable() == {TP0: 10}
    assert all(type(tp) is TopicPartition for tp in tracker.committable())


def test_rewind_points_are_the_first_offsets_since_the_last_commit() -> None:
    tracker = OffsetTracker()
    tracker.finished(records(TP0, 3, 4) + records(TP1, 10, 12))
    assert tracker.rewind_points() == {TP0: 3, TP1: 10}
    tracker.confirm({TP0: 5})  # TP1's commit was refused
    tracker.finished(records(TP0, 5, 6))
    assert tracker.rewind_points() == {TP0: 5, TP1: 10}
    tracker.confirm({TP0: 6})  # an older offset than processed: re-read from it
    assert tracker.rewind_points() == {TP0: 6, TP1: 10}


def test_finishing_out_of_order_is_refused_and_forget_drops_a_partition() -> None:
    tracker = OffsetTracker()
    tracker.finished(records(TP0, 5))
    with pytest.raises(ValueError, match="out of order"):
        tracker.finished(records(TP0, 4))
    tracker.forget([TP0])
    assert tracker.committable() == {} and not tracker.uncommitted()
    tracker.finished(records(TP0, 2))  # after a re-read, lower offsets are fine again
    assert tracker.committable() == {TP0: 3}


def test_envelope_round_trip_keeps_id_key_meta_route() -> None:
    envelope = Envelope()
    item = Item(id=42, payload={"a": [1, 2]}, key="user-1", meta={"trace": "x"}, route="accept")
    key, value, headers = envelope.encode(item)
    record = Record("t", 0, 9, key, value, headers)
    assert envelope.decode(record) == item
    raw = Item(id=1, payload=3, key=b"\x00bin")
    key, value, headers = envelope.encode(raw)
    assert envelope.decode(Record("t", 0, 0, key, value, headers)).key == b"\x00bin"


def test_envelope_decode_errors_name_the_record() -> None:
    envelope = Envelope()
    with pytest.raises(SerializationError, match="topic=in partition=2 offset=17"):
        envelope.decode(Record("in", 2, 17, None, b"{not json"))
    foreign = envelope.decode(Record("in", 0, 1, b"k", b'{"x": 1}'))
    assert foreign.payload == {"x": 1} and foreign.key == b"k" and foreign.id > 0


def test_dead_letter_headers_round_trip() -> None:
    record = Record("p.s.in", 3, 99, b"k", b"v", (("h", b"1"),))
    headers = dead_letter_headers(record, stage="s", error_type="ValueError",
                                  message="bad", attempts=3)
    assert headers[0] == ("h", b"1")
    letter = DeadLetter.from_record(Record("p.s.dlq", 0, 0, b"k", b"v", headers))
    assert letter == DeadLetter("s", "ValueError", "bad", 3, "p.s.in", 3, 99, b"k", b"v")


def test_decode_many_short_path_matches_decode() -> None:
    envelope = Envelope()
    records = [
        Record("in", 0, 0, b"k", b'{"a": 1}'),                              # no headers
        Record("in", 0, 1, None, b"[1]", (("slither.id", b"77"),)),         # id only
        Record("in", 0, 2, b"k", b"2", (("slither.id", b"x"),)),            # bad id
        Record("in", 0, 3, None, b"{bad", (("slither.id", b"5"),)),         # bad JSON
        Record("in", 0, 4, None, None),                                     # tombstone
        Record("in", 0, 5, b"s", b"3", (("slither.id", b"9"), ("slither.key", b"s"))),
    ]
    decoded = envelope.decode_many(records)
    first = decoded[0]
    assert isinstance(first, Item) and first == Item(first.id, {"a": 1}, b"k")
    assert decoded[1] == Item(77, [1])
    assert decoded[5] == Item(9, 3, "s")
    for position in (2, 3, 4):
        result = decoded[position]
        assert isinstance(result, SerializationError)
        with pytest.raises(SerializationError) as raised:
            envelope.decode(records[position])
        assert str(result) == str(raised.value)
        assert f"offset={position}" in str(result)


def test_decode_many_builds_whole_items_without_their_init() -> None:
    """The short path sets an Item's fields one by one, skipping ``__init__``: it
    must set every field, and Item must not gain an __init__ step it would skip."""
    assert Item.__slots__ == ("id", "payload", "key", "meta", "route"), \
        "Item's fields changed: update Envelope.decode_many's short path"
    assert not hasattr(Item, "__post_init__")
    first, second = Envelope().decode_many([Record("in", 0, 0, b"k", b'{"a": 1}'),
                                            Record("in", 0, 1, None, b'{"a": 1}')])
    assert isinstance(first, Item) and isinstance(second, Item)
    assert first == Item(first.id, {"a": 1}, b"k", {}, "default")
    assert first.meta is not second.meta  # each its own dict, as Item() gives
    assert second.id == first.id + 1


def test_encode_short_path_only_when_nothing_but_the_id_to_carry() -> None:
    envelope = Envelope()
    assert envelope.encode(Item(12, {"x": 1}, b"k")) == (
        b"k", b'{"x":1}', (("slither.id", b"12"),))
    assert envelope.encode(Item(4, 2, None, {}, "b")) == (
        None, b"2", (("slither.id", b"4"), ("slither.route", b"b")))
    key, _value, headers = envelope.encode(Item(3, 1, "text", {"m": 1}, "alt"))
    assert key == b"text"
    assert dict(headers) == {"slither.id": b"3", "slither.meta": b'{"m":1}',
                             "slither.route": b"alt", "slither.key": b"s"}


def test_plain_envelope_writes_key_and_value_only() -> None:
    plain = envelope_for("json", headers=False)
    assert isinstance(plain, PlainEnvelope)
    assert plain.encode(Item(12, {"x": 1}, b"k")) == (b"k", b'{"x":1}', ())
    # id, meta and route stay behind; a str key is written as its UTF-8 bytes
    assert plain.encode(Item(3, [1], "clé", {"m": 1}, "alt")) == ("clé".encode(), b"[1]", ())
    assert plain.encode(Item(4, 2)) == (None, b"2", ())
    # reading it back: a record from outside, with a fresh id
    back = plain.decode(Record("t", 0, 0, b"k", b'{"x":1}'), fresh_id=99)
    assert (back.id, back.payload, back.key, back.meta, back.route) == (
        99, {"x": 1}, b"k", {}, "default")
    assert type(envelope_for("string")) is Envelope  # headers unless told otherwise
    assert envelope_for("string", headers=False).encode(Item(1, "a")) == (None, b"a", ())
