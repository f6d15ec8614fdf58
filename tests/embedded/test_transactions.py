"""Embedded transactions: one WriteBatch per commit, fencing, misuse errors."""

from __future__ import annotations

import pytest

from slither_stream.errors import TransactionError
from slither_stream.log import RecordMetadata, TopicPartition
from slither_stream.log.embedded import EmbeddedLog
from tests.contract.helpers import read_all


def test_records_invisible_until_commit(elog: EmbeddedLog) -> None:
    elog.create_topic("out", 1)
    tp = TopicPartition("out", 0)
    delivered: list[RecordMetadata | None] = []
    with elog.producer(transactional_id="t1") as producer:
        producer.begin_transaction()
        for i in range(3):
            producer.produce("out", str(i).encode(), b"k",
                             on_delivery=lambda err, meta: delivered.append(meta))
        producer.flush()  # a flush inside a transaction writes nothing yet
        assert elog.end_offsets([tp]) == {tp: 0}
        assert delivered == []
        producer.commit_transaction()
    assert elog.end_offsets([tp]) == {tp: 3}
    assert [m.offset for m in delivered if m is not None] == [0, 1, 2]


def test_abort_reports_aborted_to_callbacks(elog: EmbeddedLog) -> None:
    elog.create_topic("out", 1)
    errors: list[Exception | None] = []
    with elog.producer(transactional_id="t1") as producer:
        producer.begin_transaction()
        producer.produce("out", b"x", b"k", on_delivery=lambda err, meta: errors.append(err))
        producer.abort_transaction()
        producer.flush()  # aborted records are not failures to report again
    assert len(errors) == 1 and isinstance(errors[0], TransactionError)
    assert read_all(elog, "out") == []


def test_newer_producer_fences_older(elog: EmbeddedLog) -> None:
    elog.create_topic("out", 1)
    old = elog.producer(transactional_id="same")
    old.begin_transaction()
    old.produce("out", b"zombie", b"k")
    new = elog.producer(transactional_id="same")
    with pytest.raises(TransactionError, match="fenced"):
        old.commit_transaction()
    new.begin_transaction()
    new.produce("out", b"fresh", b"k")
    new.commit_transaction()
    assert [r.value for r in read_all(elog, "out")] == [b"fresh"]
    with pytest.raises(TransactionError, match="fenced"):
        old.begin_transaction()
    old.close()
    new.close()


def test_transaction_misuse(elog: EmbeddedLog) -> None:
    elog.create_topic("out", 1)
    plain = elog.producer()
    assert not plain.transactional
    with pytest.raises(TransactionError, match="transactional_id"):
        plain.begin_transaction()
    txn = elog.producer(transactional_id="t")
    with pytest.raises(TransactionError, match="begin_transaction"):
        txn.produce("out", b"x", b"k")
    with pytest.raises(TransactionError, match="outside a transaction"):
        txn.commit_transaction()
    txn.begin_transaction()
    with pytest.raises(TransactionError, match="already open"):
        txn.begin_transaction()
    with pytest.raises(TransactionError, match="send"):
        txn.send("out", b"x", b"k")
    txn.abort_transaction()
    plain.close()
    txn.close()


def test_close_aborts_an_open_transaction(elog: EmbeddedLog) -> None:
    elog.create_topic("out", 1)
    producer = elog.producer(transactional_id="t")
    producer.begin_transaction()
    producer.produce("out", b"x", b"k")
    producer.close()
    assert read_all(elog, "out") == []
