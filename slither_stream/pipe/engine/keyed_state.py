"""``ctx.state``: the keyed state of the record a handler is processing.

A stage declared with ``state=[...]`` gives its handler ``ctx.state``, a
:class:`KeyedState` focused on the current record's key and input partition::

    def count(item, ctx):
        seen = ctx.state.get(0) + 1      # the key's value, or the default
        ctx.state.set(seen)
        return {"user": item.key, "seen": seen}

With several stores, name one: ``ctx.state.get(0, store="totals")``. Reads and
writes go through the stage's write buffer (read-your-writes, committed with the
stage's outputs); :class:`TaskTarget` is where they land: the task's RocksDB
instance, written with the changelog checkpoint once the commit made them durable.

A record without a key, or a stored value that does not decode, raises
:class:`~slither_stream.errors.StateDataError`: the record is dead-lettered.
"""

from __future__ import annotations

from typing import Any

from slither_stream.errors import SerializationError, StateDataError, StoreError
from slither_stream.log.types import TopicPartition
from slither_stream.pipe.engine.tasks import StageTasks
from slither_stream.pipe.engine.write_buffer import StateTarget, WriteBuffer
from slither_stream.pipe.specs import StateSpec
from slither_stream.serde.lookup import serde_for


class TaskTarget(StateTarget):
    """State store ``store`` of the task for input partition ``partition``."""

    def __init__(self, tasks: StageTasks, store: str, partition: int) -> None:
        self.tasks = tasks
        self.store = store
        self.topic = tasks.topics[store]
        self._partition = partition
        self.checkpoint: int | None = None
        """Set by :meth:`prepare_commit`: the changelog offset to resume from."""

    @property
    def partition(self) -> int:
        return self._partition

    def read(self, key: bytes) -> bytes | None:
        stores = self.tasks.stores.get(self._partition)
        if stores is None:
            raise StateDataError(f"stage {self.tasks.plan.name!r}: partition "
                                 f"{self._partition} is not owned here (revoked)")
        return stores[self.store].get(key)

    @classmethod
    def prepare_commit(cls, targets: list[StateTarget]) -> None:
        """Ask the log once for the changelog ends the checkpoints become: never past
        what is durable (a stable end may lag a just-committed transaction, which a
        restore then reads again; it is never ahead)."""
        mine = [target for target in targets if isinstance(target, TaskTarget)]
        if not mine:
            return
        log = mine[0].tasks.log
        ends = log.end_offsets([TopicPartition(t.topic, t.partition) for t in mine])
        for target in mine:
            target.checkpoint = ends[TopicPartition(target.topic, target.partition)]

    def committed(self, entries: dict[bytes, bytes | None]) -> None:
        stores = self.tasks.stores.get(self._partition)
        if stores is None:
            return  # revoked meanwhile: the next owner restores from the changelog
        stores[self.store].apply(entries, self.checkpoint)


class KeyedState:
    """The state of the current record's key (see the module docstring)."""

    def __init__(self, tasks: StageTasks, buffer: WriteBuffer,
                 specs: tuple[StateSpec, ...]) -> None:
        self._tasks = tasks
        self._buffer = buffer
        self._serdes = {spec.name: serde_for(spec.serde) for spec in specs}
        self._only = specs[0].name if len(specs) == 1 else None
        self._targets: dict[tuple[str, int], TaskTarget] = {}
        self._key: bytes | None = None
        self._partition = -1

    def focus(self, key: bytes | str | None, partition: int) -> None:
        """The engine: the next reads and writes are ``key``'s, in ``partition``."""
        self._key = key.encode() if isinstance(key, str) else key
        self._partition = partition

    @property
    def key(self) -> bytes | None:
        """The current record's key, as bytes."""
        return self._key

    def get(self, default: Any = None, *, store: str | None = None) -> Any:
        """The key's value in ``store`` (the stage's only one by default), as this
        stage last wrote it, or ``default``."""
        name, target, key = self._where(store)
        raw = self._buffer.read(target, key)
        if raw is None:
            return default
        try:
            return self._serdes[name].decode(raw)
        except SerializationError as error:
            raise StateDataError(f"state store {name!r}: the value of key {key!r} does "
                                 f"not decode: {error}") from error

    def set(self, value: Any, *, store: str | None = None) -> None:
        """Make ``value`` the key's value in ``store``."""
        name, target, key = self._where(store)
        try:
            encoded = self._serdes[name].encode(value)
        except SerializationError as error:
            raise SerializationError(f"state store {name!r}: the value for key {key!r} "
                                     f"does not encode: {error}") from error
        self._buffer.write(target, key, encoded)

    def delete(self, *, store: str | None = None) -> None:
        """Remove the key from ``store``."""
        _name, target, key = self._where(store)
        self._buffer.write(target, key, None)

    def _where(self, store: str | None) -> tuple[str, TaskTarget, bytes]:
        name = store if store is not None else self._only
        if name is None or name not in self._serdes:
            known = ", ".join(self._serdes)
            if name is None:
                raise StoreError(f"this stage has several state stores ({known}): "
                                 "name one with store=...")
            raise StoreError(f"this stage has no state store {name!r} (it has: {known})")
        key = self._key
        if key is None:
            raise StateDataError(f"record has no key: stage {self._tasks.plan.name!r} "
                                 f"keeps state per key (state store {name!r})")
        found = self._targets.get((name, self._partition))
        if found is None:
            found = self._targets[(name, self._partition)] = TaskTarget(
                self._tasks, name, self._partition)
        return name, found, key
