"""A stage's committed state writes to a global table: visible at once, and what a
restart restores (both backends)."""

from __future__ import annotations

from slither_stream.pipe.engine.global_tables import GlobalTableTarget
from slither_stream.pipe.engine.write_buffer import WriteBuffer
from tests.store.conftest import AppFactory
from tests.store.stores import Counters


def test_committed_writes_are_read_at_once_and_survive_a_restart(
        make_app: AppFactory) -> None:
    with make_app([Counters]) as app:
        owner = app["counters"].owner
        table = app["counters"].table("plain")
        table.put("old", 1)
        target = GlobalTableTarget(owner, "plain")
        buffer = WriteBuffer()
        buffer.stage()
        buffer.write(target, table.encode_key("k"), table.encode_value("k", 7))
        buffer.write(target, table.encode_key("old"), None)
        buffer.keep()
        assert table.get("k") is None  # nothing reaches the table before the commit
        assert buffer.read(target, table.encode_key("k")) == table.encode_value("k", 7)
        # what a commit strategy does: produce the writes, make them durable, apply
        with app.log.producer() as producer:
            for topic, partition, key, value in buffer.changelog():
                producer.produce(topic, value, key, partition=partition)
            producer.flush()
        buffer.committed()
        # read at once, with no changelog follower involved
        assert (table.get("k"), table.get("old")) == (7, None)
        assert not buffer
    with make_app([Counters]) as app:  # restored from the changelog
        table = app["counters"].table("plain")
        assert (table.get("k"), table.get("old")) == (7, None)
