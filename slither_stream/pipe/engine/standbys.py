"""Standby replicas: keeping other members' keyed state warm in this process.

With ``standby_replicas=N`` each partition's state is followed, besides its owner,
by the N members after the owner in the group's member order (sorted by member
id, wrapping around). A member following a partition it does not own reads that
partition's changelogs as they grow and applies them to local instances kept in
the same place the task would keep them, checkpoint included, so when the group
hands it the partition (its owner failed or left) the restore resumes from there
and reads only a short tail.

The member order and the assignment come from the group itself
(:meth:`~slither_stream.log.base.Log.group_members`), read every
:data:`REFRESH_S` seconds; this process finds itself in it by its consumer's client
id, or else by its own assignment. One thread per stage (``slither-standby-...``)
does the following; :class:`StandbyFollower.take` hands a followed partition's
instances over to the stage's tasks.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

from slither_stream.errors import LogError
from slither_stream.log.base import Consumer, Log
from slither_stream.log.types import GroupMember, TopicPartition
from slither_stream.store.partitioned.task_store import TaskStore

_log = logging.getLogger(__name__)

REFRESH_S = 2.0
"""How often the group's membership is read to choose the partitions to follow."""

FLUSH_RECORDS = 20_000
"""Records buffered per partition before they are applied with their checkpoint."""


def standby_partitions(members: list[GroupMember], me: int, topic: str,
                       replicas: int) -> set[int]:
    """The partitions of ``topic`` the member at index ``me`` of ``members`` (sorted
    by member id) follows: those whose owner is one of the ``replicas`` members
    before it, cyclically (never its own)."""
    count = len(members)
    if count < 2 or replicas < 1:
        return set()
    followed: set[int] = set()
    for index, member in enumerate(members):
        if index == me:
            continue
        distance = (me - index) % count
        if 1 <= distance <= replicas:
            followed.update(tp.partition for tp in member.assignment if tp.topic == topic)
    return followed


class StandbyFollower:
    """Follows the changelogs of the partitions this member keeps standbys of."""

    def __init__(self, log: Log, *, group: str, input_topic: str, topics: dict[str, str],
                 replicas: int, path: Callable[[str, int], Path],
                 identity: Callable[[], tuple[str | None, set[TopicPartition]]]) -> None:
        self.log = log
        self.group = group
        self.input_topic = input_topic
        self.topics = topics
        """Changelog topic of each state store."""
        self.replicas = replicas
        self._path = path
        self._identity = identity
        self._lock = threading.Lock()
        self._stores: dict[int, dict[str, TaskStore]] = {}
        self._positions: dict[TopicPartition, int] = {}
        self._pending: dict[TopicPartition, list[tuple[bytes, bytes | None]]] = {}
        self._stop = threading.Event()
        self._reassign = True
        self._thread = threading.Thread(target=self._run, name=f"slither-standby-{group}",
                                        daemon=True)
        self.applied = 0
        """Changelog records applied to standby instances (for tests)."""

    def start(self) -> StandbyFollower:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        with self._lock:
            self._flush_all()
            for stores in self._stores.values():
                for store in stores.values():
                    store.close()
            self._stores.clear()

    @property
    def following(self) -> set[int]:
        """Partitions whose state this member follows now."""
        with self._lock:
            return set(self._stores)

    def positions(self) -> dict[TopicPartition, int]:
        """The next changelog offset read per followed changelog partition."""
        with self._lock:
            return dict(self._positions)

    def take(self, partition: int) -> dict[str, TaskStore] | None:
        """Stop following ``partition`` and hand its instances over (None if it was
        not followed): the caller now owns them and restores their tail."""
        with self._lock:
            stores = self._stores.pop(partition, None)
            if stores is None:
                return None
            self._flush_partition(partition)
            for topic in self.topics.values():
                tp = TopicPartition(topic, partition)
                self._positions.pop(tp, None)
                self._pending.pop(tp, None)
            self._reassign = True
        for store in stores.values():
            store.flush()
        return stores

    # -- the thread ----------------------------------------------------------------

    def _run(self) -> None:
        consumer: Consumer | None = None
        refreshed = 0.0
        try:
            while not self._stop.is_set():
                if time.monotonic() - refreshed >= REFRESH_S:
                    refreshed = time.monotonic()
                    self._refresh()
                with self._lock:
                    reassign, self._reassign = self._reassign, False
                    positions = dict(self._positions)
                if reassign:
                    if consumer is not None:
                        consumer.close()
                        consumer = None
                    if positions:
                        consumer = self.log.consumer(f"{self.group}.standby")
                        consumer.assign(list(positions.items()))
                if consumer is None:
                    self._stop.wait(0.2)
                    continue
                self._follow(consumer)
        except Exception:
            _log.exception("stage group %s: standby follower stopped", self.group)
        finally:
            if consumer is not None:
                consumer.close()

    def _refresh(self) -> None:
        """Choose the partitions to follow from the group's members now."""
        try:
            members = self.log.group_members(self.group)
        except LogError as error:
            _log.debug("group %s: members unknown for now: %s", self.group, error)
            return
        client_id, assignment = self._identity()
        me = _find_me(members, client_id, assignment)
        if me is None:
            return
        owned = {tp.partition for tp in assignment}
        wanted = standby_partitions(members, me, self.input_topic, self.replicas) - owned
        with self._lock:
            current = set(self._stores)
            for partition in current - wanted:
                self._flush_partition(partition)
                for store in self._stores.pop(partition).values():
                    store.close()
                for topic in self.topics.values():
                    self._positions.pop(TopicPartition(topic, partition), None)
                self._reassign = True
            for partition in sorted(wanted - current):
                try:
                    opened = {name: TaskStore(self._path(name, partition), store=name,
                                              partition=partition, lock_wait=0.0)
                              for name in self.topics}
                except Exception as error:  # held by the task, or corrupt: next time
                    _log.debug("standby of partition %d not opened: %s", partition, error)
                    continue
                self._stores[partition] = opened
                begins = self.log.beginning_offsets(
                    [TopicPartition(t, partition) for t in self.topics.values()])
                for name, topic in self.topics.items():
                    tp = TopicPartition(topic, partition)
                    checkpoint = opened[name].checkpoint
                    self._positions[tp] = begins[tp] if checkpoint is None else max(
                        checkpoint, begins[tp])
                self._reassign = True
                _log.info("group %s: following the state of partition %d as a standby",
                          self.group, partition)

    def _follow(self, consumer: Consumer) -> None:
        batch = consumer.poll_records(5_000, 0.2)
        with self._lock:
            if self._reassign:
                return  # partitions changed: what was read may not be ours any more
            stores_of = {topic: store for store, topic in self.topics.items()}
            for record in batch:
                tp = TopicPartition(record.topic, record.partition)
                if tp not in self._positions or record.partition not in self._stores:
                    continue
                if record.key is not None:
                    self._pending.setdefault(tp, []).append((record.key, record.value))
                self._positions[tp] = record.offset + 1
            for tp, pairs in list(self._pending.items()):
                if len(pairs) >= FLUSH_RECORDS or not batch:
                    self._apply(tp, stores_of[tp.topic])
            if not batch:
                self._step_over_markers(consumer)

    def _step_over_markers(self, consumer: Consumer) -> None:
        positions = consumer.position(list(self._positions))
        for tp, position in positions.items():
            if position is not None and position > self._positions.get(tp, 0):
                self._positions[tp] = position

    def _apply(self, tp: TopicPartition, store: str) -> None:
        pairs = self._pending.pop(tp, [])
        stores = self._stores.get(tp.partition)
        if stores is None:
            return
        stores[store].apply(pairs, self._positions[tp], wal=False)
        self.applied += len(pairs)

    def _flush_partition(self, partition: int) -> None:
        for store, topic in self.topics.items():
            tp = TopicPartition(topic, partition)
            if tp in self._pending:
                self._apply(tp, store)

    def _flush_all(self) -> None:
        for partition in list(self._stores):
            self._flush_partition(partition)


def _find_me(members: list[GroupMember], client_id: str | None,
             assignment: set[TopicPartition]) -> int | None:
    """This process's index among ``members``: by a client id no other member has,
    else by its (non-empty, so unique) assignment."""
    if client_id is not None:
        found = [i for i, member in enumerate(members) if member.client_id == client_id]
        if len(found) == 1:
            return found[0]
    if assignment:
        for index, member in enumerate(members):
            if set(member.assignment) == assignment:
                return index
    return None
