"""Consumer groups of the embedded log: membership and partition assignment.

All members of a group live in the process that has the log open, so the
coordinator is a plain object guarded by the engine's lock. Assignment is Kafka's
range assignor, per topic, over members in join order: deterministic, and the same
membership always yields the same assignment.

Rebalancing is incremental, in the spirit of Kafka's cooperative protocol. A change
of membership or topics recomputes each member's *target*. A partition moves in two
steps, both taken by the members themselves inside ``poll_batch``: its current owner
runs ``on_revoke`` and then releases it, and only then may the new owner take it
(and run ``on_assign``). So revocation always happens before anyone else reads the
partition, and an offset committed in ``on_revoke`` is the one the next owner
starts from.

A member that stops calling ``poll_batch`` for longer than its max poll interval
(Kafka's ``max.poll.interval.ms``) would block every move that involves it, so the
next member that polls expels it, as Kafka's coordinator does. The expelled
consumer finds out in its next ``poll_batch``, runs ``on_revoke`` for what it lost,
and joins again.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from slither_stream.log.types import TopicPartition


@dataclass
class Member:
    """One subscribed consumer of a group."""

    member_id: int
    topics: tuple[str, ...]
    max_poll_interval: float
    client_id: str = ""
    owned: set[TopicPartition] = field(default_factory=set)
    target: set[TopicPartition] = field(default_factory=set)
    in_poll: bool = False
    last_poll: float = 0.0

    def poll_deadline(self) -> float | None:
        """When this member is overdue (None while it is inside ``poll_batch``)."""
        return None if self.in_poll else self.last_poll + self.max_poll_interval


@dataclass
class Group:
    """Members of one group and who owns which partition."""

    name: str
    members: dict[int, Member] = field(default_factory=dict)
    owners: dict[TopicPartition, int] = field(default_factory=dict)


class GroupCoordinator:
    """Every group of one log. Callers hold the engine's lock around each call."""

    def __init__(self, partition_count: Callable[[str], int | None]) -> None:
        self._partition_count = partition_count
        self._groups: dict[str, Group] = {}
        self._ids = itertools.count(1)

    def new_member_id(self) -> int:
        return next(self._ids)

    def join(self, group: str, member_id: int, topics: Iterable[str], *,
             max_poll_interval: float, now: float, client_id: str = "") -> None:
        """Add a member (or change its subscription) and rebalance the group."""
        state = self._groups.setdefault(group, Group(group))
        member = state.members.get(member_id)
        wanted = tuple(sorted(set(topics)))
        if member is None:
            state.members[member_id] = Member(member_id, wanted, max_poll_interval,
                                              client_id=client_id, last_poll=now)
        else:
            member.topics = wanted
        self._rebalance(state)

    def polling(self, group: str, member_id: int, active: bool, now: float) -> None:
        """Record that the member entered (or left) ``poll_batch``."""
        member = self.member(group, member_id)
        if member is not None:
            member.in_poll = active
            member.last_poll = now

    def expel_overdue(self, group: str, member_id: int, now: float) -> float | None:
        """Expel the group's other members that stopped polling; returns the earliest
        moment another member becomes overdue (None if none can)."""
        state = self._groups.get(group)
        if state is None or member_id not in state.members:
            return None
        soonest: float | None = None
        for other in list(state.members.values()):
            deadline = other.poll_deadline()
            if other.member_id == member_id or deadline is None:
                continue
            if deadline <= now:
                self.leave(group, other.member_id)
            else:
                soonest = deadline if soonest is None else min(soonest, deadline)
        return soonest

    def leave(self, group: str, member_id: int) -> None:
        """Remove a member, freeing whatever it still owns, and rebalance."""
        state = self._groups.get(group)
        if state is None or member_id not in state.members:
            return
        member = state.members.pop(member_id)
        for tp in member.owned:
            state.owners.pop(tp, None)
        if state.members:
            self._rebalance(state)
        else:
            del self._groups[group]

    def topics_changed(self) -> None:
        """Recompute every group after a topic was created or deleted."""
        for state in self._groups.values():
            self._rebalance(state)

    def members(self, group: str) -> list[Member]:
        """The group's members in join order (none for an unknown group)."""
        state = self._groups.get(group)
        return [] if state is None else list(state.members.values())

    def member(self, group: str, member_id: int) -> Member | None:
        state = self._groups.get(group)
        return None if state is None else state.members.get(member_id)

    def to_revoke(self, group: str, member_id: int) -> list[TopicPartition]:
        """Partitions the member owns but must give up."""
        member = self.member(group, member_id)
        if member is None:
            return []
        return sorted(member.owned - member.target)

    def to_take(self, group: str, member_id: int) -> list[TopicPartition]:
        """Partitions the member should own that no other member holds any more."""
        state = self._groups.get(group)
        member = None if state is None else state.members.get(member_id)
        if state is None or member is None:
            return []
        return sorted(tp for tp in member.target - member.owned if tp not in state.owners)

    def has_work(self, group: str, member_id: int) -> bool:
        return bool(self.to_revoke(group, member_id) or self.to_take(group, member_id))

    def release(self, group: str, member_id: int, partitions: Iterable[TopicPartition]) -> None:
        state = self._groups.get(group)
        member = None if state is None else state.members.get(member_id)
        if state is None or member is None:
            return
        for tp in partitions:
            if tp in member.owned:
                member.owned.discard(tp)
                state.owners.pop(tp, None)

    def take(self, group: str, member_id: int,
             partitions: Iterable[TopicPartition]) -> list[TopicPartition]:
        """Claim ``partitions`` that are still targeted and free; returns those taken."""
        state = self._groups.get(group)
        member = None if state is None else state.members.get(member_id)
        if state is None or member is None:
            return []
        taken = []
        for tp in partitions:
            if tp in member.target and tp not in state.owners:
                state.owners[tp] = member_id
                member.owned.add(tp)
                taken.append(tp)
        return taken

    def _rebalance(self, state: Group) -> None:
        members = list(state.members.values())
        for member in members:
            member.target = set()
        topics = sorted({topic for member in members for topic in member.topics})
        for topic in topics:
            count = self._partition_count(topic)
            if count is None:
                continue
            subscribers = [m for m in members if topic in m.topics]
            share, extra = divmod(count, len(subscribers))
            start = 0
            for index, member in enumerate(subscribers):
                size = share + (1 if index < extra else 0)
                member.target.update(TopicPartition(topic, p) for p in range(start, start + size))
                start += size
