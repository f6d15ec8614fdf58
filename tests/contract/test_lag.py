"""Lag counts records a read-committed member would still receive, not offsets.

The shape of an exactly-once stage's input: a transactional producer writes the
topic (commit markers after each transaction, an aborted transaction's records in
the middle), and the reading group commits "last record + 1" through its own
transactions (``send_offsets_to_transaction``). On Kafka that committed offset
stays one marker short of the end offset for ever; lag must still be 0 once the
group has read everything, and exactly the unread records otherwise.
"""

from __future__ import annotations

from collections.abc import Callable

from slither_stream.log import Log, Record, TopicPartition
from tests.contract.helpers import consume_n, eventually

Namer = Callable[[str], str]


def _write(log: Log, producer_id: str, topic: str, batches: list[tuple[str, int]]) -> int:
    """Transactions of ``(action, records)`` per partition 0 and 1 of ``topic``
    (action ``commit`` or ``abort``; aborted records reach the log first, so they take
    offsets); the number of committed records."""
    committed = 0
    with log.producer(transactional_id=producer_id) as producer:
        for action, count in batches:
            producer.begin_transaction()
            for i in range(count):
                producer.produce(topic, f"{action}-{i}".encode(), partition=i % 2)
            if action == "abort":
                producer.flush(30)
                producer.abort_transaction(30)
            else:
                producer.commit_transaction(30)
                committed += count
    return committed


def _commit_read(log: Log, group: str, txn_id: str, records: list[Record]) -> None:
    """Commit ``last offset + 1`` per partition of ``records`` for ``group`` in a
    transaction, as an exactly-once stage does."""
    offsets: dict[TopicPartition, int] = {}
    for record in records:
        offsets[record.topic_partition] = max(offsets.get(record.topic_partition, 0),
                                              record.offset + 1)
    with log.consumer(group) as member, \
            log.producer(transactional_id=txn_id) as producer:
        member.assign(list(offsets))
        producer.begin_transaction()
        producer.send_offsets_to_transaction(member, offsets)
        producer.commit_transaction(30)


def _lags(log: Log, group: str, topic: str) -> list[int]:
    return [entry.lag for entry in log.lag(group, topic)]


def test_drained_transactional_input_has_no_lag(log: Log, unique_name: Namer) -> None:
    topic, group = unique_name("eos-in"), unique_name("eos-group")
    log.create_topic(topic, 2)
    written = _write(log, unique_name("writer"), topic,
                     [("commit", 10), ("commit", 6), ("abort", 8), ("commit", 4)])
    with log.consumer(unique_name("reader")) as reader:
        reader.subscribe([topic])
        read = consume_n(reader, written)
    assert sorted(r.value for r in read if r.value.startswith(b"abort")) == []

    _commit_read(log, group, unique_name("stage"), read)
    eventually(lambda: _lags(log, group, topic) == [0, 0],
               what=f"lag 0 on a drained transactional topic (got {log.lag(group, topic)})")
    assert log.total_lag(group, topic) == 0
    assert log.total_lag(group, topic) == 0  # asked again: the same answer
    if log.url.startswith("kafka://"):
        # the committed offsets really are short of the end: offsets are not records
        ends = {e.partition: (e.end_offset, e.committed) for e in log.lag(group, topic)}
        assert all(committed is not None and end > committed
                   for end, committed in ends.values()), ends


def test_unread_committed_records_are_the_lag(log: Log, unique_name: Namer) -> None:
    topic, group = unique_name("eos-in"), unique_name("eos-group")
    log.create_topic(topic, 2)
    writer = unique_name("writer")
    written = _write(log, writer, topic, [("commit", 6), ("abort", 5), ("commit", 2)])
    with log.consumer(unique_name("reader")) as reader:
        reader.subscribe([topic])
        read = consume_n(reader, written)
    _commit_read(log, group, unique_name("stage"), read)
    eventually(lambda: log.total_lag(group, topic) == 0, what="lag 0 once drained")

    # k more committed records (around another aborted transaction): lag k
    more = _write(log, writer, topic, [("commit", 3), ("abort", 4), ("commit", 4)])
    assert more == 7
    eventually(lambda: _lags(log, group, topic) == [4, 3],
               what=f"lag = unread records (got {log.lag(group, topic)})")
    assert log.total_lag(group, topic) == 7

    # a group that never committed counts every record it would read
    eventually(lambda: log.total_lag(unique_name("fresh"), topic) == written + more,
               what="lag of a group without commits")
