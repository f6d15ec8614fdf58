"""Many groups and many members on the embedded log."""

from __future__ import annotations

import threading
from collections import Counter

from slither_stream.errors import LogError
from slither_stream.log import Record, TopicPartition
from slither_stream.log.embedded import EmbeddedLog
from tests.contract.helpers import consume_n, settle


def test_range_assignment_is_deterministic_and_complete(elog: EmbeddedLog) -> None:
    elog.create_topic("t", 7)
    members = [elog.consumer("g") for _ in range(3)]
    for member in members:
        member.subscribe(["t"])
    everything = set(elog.partitions_of("t"))
    settle(members, lambda: sum(len(m.assignment()) for m in members) == 7)
    owned = [m.assignment() for m in members]
    assert set().union(*owned) == everything
    assert sum(len(o) for o in owned) == 7  # disjoint
    # Kafka's range assignor, members in join order
    assert [sorted(tp.partition for tp in o) for o in owned] == [[0, 1, 2], [3, 4], [5, 6]]
    for member in members:
        member.close()


def test_groups_are_independent(elog: EmbeddedLog) -> None:
    elog.create_topic("t", 3)
    with elog.producer() as producer:
        for i in range(30):
            producer.produce("t", str(i).encode(), f"k{i}".encode())
    readers = [elog.consumer(f"group-{n}") for n in range(5)]
    for reader in readers:
        reader.subscribe(["t"])
    for reader in readers:
        got = consume_n(reader, 30)
        assert sorted(int(r.value or b"") for r in got) == list(range(30))
    for reader in readers:
        reader.close()


def test_members_join_and_leave_while_records_flow(elog: EmbeddedLog) -> None:
    """Members come and go on their own threads; with commits on revoke, every
    record is read at least once and no partition ever has two owners."""
    elog.create_topic("t", 6)
    total = 3000
    seen: Counter[int] = Counter()
    seen_lock = threading.Lock()
    stop = threading.Event()
    owners_ok = threading.Event()
    owners_ok.set()
    active: list[set[TopicPartition]] = []

    def member(rounds: int) -> None:
        consumer = elog.consumer("workers")
        mine: set[TopicPartition] = set()
        with seen_lock:
            active.append(mine)

        def revoke(parts: list[TopicPartition]) -> None:
            consumer.commit()
            with seen_lock:
                mine.difference_update(parts)

        def assign(parts: list[TopicPartition]) -> None:
            with seen_lock:
                for other in active:
                    if other is not mine and other & set(parts):
                        owners_ok.clear()
                mine.update(parts)

        consumer.subscribe(["t"], on_assign=assign, on_revoke=revoke)
        for _ in range(rounds):
            if stop.is_set():
                break
            batch: list[Record] = consumer.poll_batch(50, timeout=0.02)
            with seen_lock:
                seen.update(int(r.value or b"") for r in batch)
                if len(seen) == total:
                    stop.set()
        consumer.commit()
        consumer.close()
        with seen_lock:
            active.remove(mine)

    producer = elog.producer()
    for i in range(total):
        producer.produce("t", str(i).encode(), f"k{i}".encode())
    producer.flush()
    threads = [threading.Thread(target=member, args=(rounds,), name=f"member-{n}")
               for n, rounds in enumerate([1000, 20, 40, 60])]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    stop.set()
    assert owners_ok.is_set(), "a partition was assigned while another member owned it"
    # whatever was not read yet is still reachable from the committed offsets
    with elog.consumer("workers") as finisher:
        finisher.subscribe(["t"])
        lag = elog.total_lag("workers", "t")
        rest = consume_n(finisher, lag, timeout=30) if lag else []
    seen.update(int(r.value or b"") for r in rest)
    assert set(seen) == set(range(total))


def test_subscription_change_rebalances(elog: EmbeddedLog) -> None:
    elog.create_topic("a", 2)
    elog.create_topic("b", 2)
    first, second = elog.consumer("g"), elog.consumer("g")
    first.subscribe(["a"])
    second.subscribe(["a", "b"])
    settle([first, second], lambda: len(first.assignment()) + len(second.assignment()) == 4)
    assert {tp.topic for tp in first.assignment()} == {"a"}
    assert {tp for tp in second.assignment() if tp.topic == "b"} == set(elog.partitions_of("b"))
    first.close()
    settle([second], lambda: len(second.assignment()) == 4)
    second.close()


def test_deleted_topic_is_revoked(elog: EmbeddedLog) -> None:
    elog.create_topic("a", 1)
    elog.create_topic("b", 1)
    revoked: list[TopicPartition] = []
    consumer = elog.consumer("g")
    consumer.subscribe(["a", "b"], on_revoke=revoked.extend)
    settle([consumer], lambda: len(consumer.assignment()) == 2)
    elog.delete_topic("b")
    settle([consumer], lambda: consumer.assignment() == {TopicPartition("a", 0)})
    assert revoked == [TopicPartition("b", 0)]
    consumer.close()


def test_member_that_stops_polling_is_expelled_and_rejoins(elog: EmbeddedLog) -> None:
    elog.create_topic("t", 2)
    everything = set(elog.partitions_of("t"))
    lost: list[TopicPartition] = []
    refused: list[Exception] = []

    def on_revoke(partitions: list[TopicPartition]) -> None:
        lost.extend(partitions)
        try:
            stuck.commit()
        except LogError as error:  # Kafka refuses a stale member's commit too
            refused.append(error)

    stuck = elog.consumer("g", **{"max.poll.interval.ms": "300"})
    active = elog.consumer("g")
    stuck.subscribe(["t"], on_revoke=on_revoke)
    active.subscribe(["t"])
    settle([stuck, active],
           lambda: len(stuck.assignment()) == 1 and len(active.assignment()) == 1)
    held = stuck.assignment()

    # only `active` polls now; once `stuck` is 300 ms overdue it is expelled
    settle([active], lambda: active.assignment() == everything, timeout=10)
    assert stuck.assignment() == set()

    # the expelled member learns it on its next poll, revokes, and joins again
    settle([stuck, active],
           lambda: len(stuck.assignment()) == 1 and len(active.assignment()) == 1)
    assert set(lost) >= held
    assert refused and "expelled" in str(refused[0])
    stuck.close()
    active.close()


def test_member_blocked_in_poll_is_not_expelled(elog: EmbeddedLog) -> None:
    elog.create_topic("t", 2)
    waiting = elog.consumer("g", max_poll_interval_ms=1000)
    other = elog.consumer("g")
    waiting.subscribe(["t"])
    other.subscribe(["t"])
    settle([waiting, other],
           lambda: len(waiting.assignment()) == 1 and len(other.assignment()) == 1)
    done = threading.Event()

    def long_poll() -> None:
        waiting.poll_batch(10, timeout=2.5)  # inside poll: alive, however long
        done.set()

    thread = threading.Thread(target=long_poll, name="long-poll")
    thread.start()
    other.poll_batch(10, timeout=2.0)  # twice the interval passes meanwhile
    assert len(waiting.assignment()) == 1
    thread.join(10)
    assert done.is_set()
    waiting.close()
    other.close()
