from __future__ import annotations

import pytest

from slither_stream.errors import SerializationError
from slither_stream.item import Item
from slither_stream.log.types import Record, TopicPartition
from slither_stream.pipe.dlq import DeadLetter, dead_letter_headers
from slither_stream.pipe.envelope import Envelope
from slither_stream.pipe.offsets import OffsetTracker

TP0 = TopicPartition("t", 0)
TP1 = TopicPartition("t", 1)


def test_commit_only_contiguous_done_prefix() -> None:
    tracker = OffsetTracker()
    for offset in (3, 4, 7, 8):
        tracker.register(TP0, offset)
    tracker.register(TP1, 0)
    tracker.done(TP0, 4)
    tracker.done(TP0, 7)
    assert tracker.committable() == {}  # 3 is slow: nothing past it
    tracker.done(TP0, 3)
    assert tracker.committable() == {TP0: 8}  # 3, 4, 7 done; 8 is not
    assert tracker.committable() == {TP0: 8}  # not confirmed yet: offered again
    tracker.confirm({TP0: 8})
    assert tracker.committable() == {}  # no new progress, nothing to commit again
    assert tracker.position(TP0) == 8
    tracker.done(TP1, 0)
    tracker.done(TP0, 8)
    assert tracker.committable() == {TP0: 9, TP1: 1}
    tracker.confirm({TP0: 9, TP1: 1})
    assert tracker.pending() == 0


def test_registering_out_of_order_and_forget() -> None:
    tracker = OffsetTracker()
    tracker.register(TP0, 5)
    with pytest.raises(ValueError, match="out of order"):
        tracker.register(TP0, 5)
    tracker.forget([TP0])
    tracker.done(TP0, 5)  # revoked meanwhile: ignored
    assert tracker.committable() == {}
    assert tracker.pending() == 0


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
