"""The embedded consumer: group member or manual reader of the embedded log.

``poll_batch`` never sleeps on a timer: when nothing is readable it waits on the
engine's condition, which every append, partition release, resume and close
notifies, so a record produced on another thread wakes it at once.

Positions (next offset to read) live here, per assigned partition. A position is
set when the partition is assigned: the group's committed offset, else the reset
policy (``earliest``: the first stored record; ``latest``: the end). A position past
the end (the topic was recreated) resets the same way; one below the beginning
(records removed by retention or compaction) moves to the beginning.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

from slither_stream.errors import ConfigError, LogClosedError, LogError
from slither_stream.log.base import Consumer, OffsetReset, RebalanceCallback
from slither_stream.log.embedded._engine import OffsetCommit
from slither_stream.log.embedded._topics import TopicState
from slither_stream.log.types import Record, TopicPartition

if TYPE_CHECKING:
    from slither_stream.log.embedded.log import EmbeddedLog

_Readable = tuple[TopicPartition, TopicState, int, int]


class EmbeddedConsumer(Consumer):
    """Consumer of an :class:`~slither_stream.log.embedded.EmbeddedLog`."""

    def __init__(self, owner: EmbeddedLog, group: str, auto_offset_reset: OffsetReset,
                 max_poll_interval_ms: int = 300_000, client_id: str | None = None) -> None:
        if not isinstance(group, str) or not group:
            raise ConfigError(f"consumer group must be a non-empty string, got {group!r}")
        if auto_offset_reset not in ("earliest", "latest"):
            raise ConfigError(
                f"auto_offset_reset must be 'earliest' or 'latest', got {auto_offset_reset!r}"
            )
        self._owner = owner
        self._engine = owner.engine
        self._group = group
        self._reset = auto_offset_reset
        if isinstance(max_poll_interval_ms, bool) or not isinstance(max_poll_interval_ms, int) \
                or max_poll_interval_ms < 1:
            raise ConfigError(f"max_poll_interval_ms must be an int >= 1, "
                              f"got {max_poll_interval_ms!r}")
        self._max_poll_interval = max_poll_interval_ms / 1000.0
        self._topics: tuple[str, ...] = ()
        self._member_id = self._engine.groups.new_member_id()
        self.client_id = client_id or f"slither-consumer-{self._member_id}"
        """The name the group reports this consumer by."""
        self._subscribed = False
        self._manual: set[TopicPartition] = set()
        self._positions: dict[TopicPartition, int] = {}
        self._paused: set[TopicPartition] = set()
        self._on_assign: RebalanceCallback | None = None
        self._on_revoke: RebalanceCallback | None = None
        self._rotation = 0
        self._closed = False

    @property
    def group(self) -> str:
        return self._group

    def _check_open(self) -> None:
        if self._closed:
            raise LogClosedError(f"consumer of group {self._group!r} is closed")
        self._engine.check_open()

    # -- membership ---------------------------------------------------------------

    def subscribe(
        self,
        topics: Sequence[str],
        *,
        on_assign: RebalanceCallback | None = None,
        on_revoke: RebalanceCallback | None = None,
    ) -> None:
        self._check_open()
        if isinstance(topics, str | bytes) or not topics:
            raise ConfigError(f"subscribe() takes a non-empty list of topic names, got {topics!r}")
        for name in topics:
            self._engine.topic(name)
        if self._manual:
            raise ConfigError("this consumer uses assign(); a consumer cannot also subscribe()")
        self._on_assign = on_assign
        self._on_revoke = on_revoke
        with self._engine.cond:
            self._topics = tuple(topics)
            self._engine.groups.join(self._group, self._member_id, self._topics,
                                     max_poll_interval=self._max_poll_interval,
                                     now=time.monotonic(), client_id=self.client_id)
            self._subscribed = True
            self._engine.cond.notify_all()

    def assign(self, partitions: Iterable[TopicPartition | tuple[TopicPartition, int]]) -> None:
        self._check_open()
        if self._subscribed:
            raise ConfigError("this consumer is subscribed; a consumer cannot also assign()")
        wanted: dict[TopicPartition, int | None] = {}
        for entry in partitions:
            if isinstance(entry, tuple) and len(entry) == 2 and isinstance(entry[0], tuple):
                tp, offset = TopicPartition(*entry[0]), entry[1]
                if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
                    raise ConfigError(f"start offset for {tp} must be an int >= 0, "
                                      f"got {offset!r}")
            else:
                tp, offset = TopicPartition(*entry), None
            self._engine.resolve(tp)
            wanted[tp] = offset
        with self._engine.cond:
            self._manual = set(wanted)
            self._positions = {tp: pos for tp, pos in self._positions.items() if tp in wanted}
            self._paused &= self._manual
        for tp, offset in wanted.items():
            self._positions[tp] = offset if offset is not None else self._initial_position(tp)

    def _initial_position(self, tp: TopicPartition) -> int:
        state = self._engine.resolve(tp)
        committed = self._engine.committed(self._group, state, tp.partition)
        if committed is not None:
            return committed
        with self._engine.cond:
            if self._reset == "earliest":
                return state.begins[tp.partition]
            return state.ends[tp.partition]

    def _rebalance(self) -> None:
        """Run this member's pending revocations, then its new assignments."""
        if not self._subscribed:
            return
        engine = self._engine
        groups = engine.groups
        with engine.cond:
            expelled = groups.member(self._group, self._member_id) is None
            revoke = sorted(self._positions) if expelled \
                else groups.to_revoke(self._group, self._member_id)
        if expelled:
            self._rejoin(revoke)
            return
        if revoke:
            try:
                if self._on_revoke is not None:
                    self._on_revoke(revoke)
            finally:
                with engine.cond:
                    groups.release(self._group, self._member_id, revoke)
                    for tp in revoke:
                        self._positions.pop(tp, None)
                        self._paused.discard(tp)
                    engine.cond.notify_all()
        with engine.cond:
            taken = groups.take(self._group, self._member_id,
                                groups.to_take(self._group, self._member_id))
        if taken:
            for tp in taken:
                self._positions[tp] = self._initial_position(tp)
            if self._on_assign is not None:
                self._on_assign(taken)

    def _rejoin(self, lost: list[TopicPartition]) -> None:
        """After being expelled for not polling: give up everything, join again."""
        engine = self._engine
        try:
            if lost and self._on_revoke is not None:
                self._on_revoke(lost)
        finally:
            with engine.cond:
                self._positions = {}
                self._paused = set()
                now = time.monotonic()
                engine.groups.join(self._group, self._member_id, self._topics,
                                   max_poll_interval=self._max_poll_interval, now=now,
                                   client_id=self.client_id)
                engine.groups.polling(self._group, self._member_id, True, now)
                engine.cond.notify_all()

    # -- reading ------------------------------------------------------------------

    def poll_batch(self, max_records: int = 500, timeout: float = 1.0) -> list[Record]:
        if isinstance(max_records, bool) or not isinstance(max_records, int) or max_records < 1:
            raise ConfigError(f"max_records must be an int >= 1, got {max_records!r}")
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout < 0:
            raise ConfigError(f"timeout must be a number of seconds >= 0, got {timeout!r}")
        deadline = time.monotonic() + timeout
        self._mark_polling(True)
        try:
            return self._poll(max_records, deadline)
        finally:
            self._mark_polling(False)

    def _mark_polling(self, active: bool) -> None:
        if self._subscribed:
            with self._engine.cond:
                self._engine.groups.polling(self._group, self._member_id, active,
                                            time.monotonic())

    def _poll(self, max_records: int, deadline: float) -> list[Record]:
        cond = self._engine.cond
        groups = self._engine.groups
        while True:
            self._check_open()
            self._rebalance()
            with cond:
                readable = self._readable()
            if readable:
                records = self._fetch(readable, max_records)
                if records:
                    return records
                continue
            with cond:
                if self._closed or self._engine.closed:
                    continue
                now = time.monotonic()
                wake_at = deadline
                if self._subscribed:
                    overdue_at = groups.expel_overdue(self._group, self._member_id, now)
                    if overdue_at is not None:
                        wake_at = min(wake_at, overdue_at)
                    if groups.has_work(self._group, self._member_id) or \
                            groups.member(self._group, self._member_id) is None:
                        continue
                if self._readable():
                    continue
                if deadline <= now:
                    return []
                cond.wait(max(0.0, wake_at - now))

    def _readable(self) -> list[_Readable]:
        """Assigned, unpaused partitions with records past the position (lock held)."""
        topics = self._engine.topics
        readable = []
        for tp in self._assigned():
            if tp in self._paused:
                continue
            state = topics.get(tp.topic)
            position = self._positions.get(tp)
            if state is None or position is None:
                continue
            end = state.ends[tp.partition]
            if position > end:
                position = state.begins[tp.partition] if self._reset == "earliest" else end
                self._positions[tp] = position
            if position < state.begins[tp.partition]:
                position = state.begins[tp.partition]
                self._positions[tp] = position
            if position < end:
                readable.append((tp, state, position, end))
        return readable

    def _fetch(self, readable: list[_Readable], max_records: int) -> list[Record]:
        """Read round-robin over ``readable``, starting one further each call."""
        self._rotation = (self._rotation + 1) % len(readable)
        ordered = readable[self._rotation:] + readable[:self._rotation]
        records: list[Record] = []
        for tp, state, position, end in ordered:
            got, next_position = self._engine.read(state, tp.partition, position, end,
                                                   max_records - len(records))
            records.extend(got)
            if self._positions.get(tp) == position:
                self._positions[tp] = next_position
            if len(records) >= max_records:
                break
        return records

    def _assigned(self) -> set[TopicPartition]:
        if self._subscribed:
            member = self._engine.groups.member(self._group, self._member_id)
            return set(member.owned) if member is not None else set()
        return set(self._manual)

    # -- offsets ------------------------------------------------------------------

    def commit(self, offsets: Mapping[TopicPartition, int] | None = None, *,
               asynchronous: bool = False) -> None:
        # The embedded log stores offsets locally in microseconds, so an
        # asynchronous commit is simply done synchronously (see Consumer.commit).
        self._check_open()
        if self._subscribed:
            with self._engine.cond:
                expelled = self._engine.groups.member(self._group, self._member_id) is None
            if expelled:
                raise LogError(
                    f"commit refused: this consumer was expelled from group {self._group!r} "
                    f"for not polling within max_poll_interval_ms, and its partitions may "
                    f"already belong to another member"
                )
        if offsets is None:
            with self._engine.cond:
                assigned = self._assigned()
                chosen = {tp: pos for tp, pos in self._positions.items() if tp in assigned}
        else:
            chosen = dict(offsets)
        commits = []
        for tp, offset in chosen.items():
            state = self._engine.resolve(tp)
            if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
                raise ConfigError(f"offset for {tp} must be an int >= 0, got {offset!r}")
            commits.append(OffsetCommit(self._group, state, tp[1], offset))
        self._engine.commit(commits)

    def committed(self, partitions: Iterable[TopicPartition]) -> dict[TopicPartition, int | None]:
        self._check_open()
        return self._owner.committed_offsets(self._group, partitions)

    def position(self, partitions: Iterable[TopicPartition]) -> dict[TopicPartition, int | None]:
        self._check_open()
        result: dict[TopicPartition, int | None] = {}
        for tp in partitions:
            self._engine.resolve(tp)
            result[TopicPartition(*tp)] = self._positions.get(TopicPartition(*tp))
        return result

    def seek(self, partition: TopicPartition, offset: int) -> None:
        self._check_open()
        self._engine.resolve(partition)
        tp = TopicPartition(*partition)
        if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
            raise ConfigError(f"seek offset must be an int >= 0, got {offset!r}")
        with self._engine.cond:
            if tp not in self._assigned():
                raise ConfigError(f"cannot seek {tp}: it is not assigned to this consumer")
            self._positions[tp] = offset
            self._engine.cond.notify_all()

    def pause(self, partitions: Iterable[TopicPartition]) -> None:
        """Pause assigned partitions; partitions not assigned (any more) are ignored."""
        self._check_open()
        wanted = {TopicPartition(*tp) for tp in partitions}
        for tp in wanted:
            self._engine.resolve(tp)
        with self._engine.cond:
            self._paused |= wanted & self._assigned()

    def resume(self, partitions: Iterable[TopicPartition]) -> None:
        self._check_open()
        wanted = {TopicPartition(*tp) for tp in partitions}
        with self._engine.cond:
            self._paused -= wanted
            self._engine.cond.notify_all()

    def paused(self) -> set[TopicPartition]:
        with self._engine.cond:
            return set(self._paused)

    def assignment(self) -> set[TopicPartition]:
        with self._engine.cond:
            return self._assigned() if not self._closed else set()

    # -- lifecycle ----------------------------------------------------------------

    def close(self) -> None:
        if self._closed:
            return
        try:
            if self._subscribed and not self._engine.closed and self._on_revoke is not None:
                with self._engine.cond:
                    owned = sorted(self._assigned())
                if owned:
                    self._on_revoke(owned)
        finally:
            self.detach()

    def detach(self) -> None:
        """Leave the group without callbacks (used when the whole log closes)."""
        with self._engine.cond:
            if self._closed:
                return
            self._closed = True
            if self._subscribed:
                self._engine.groups.leave(self._group, self._member_id)
            self._manual = set()
            self._positions = {}
            self._paused = set()
            self._engine.cond.notify_all()
        self._owner.forget(self)
