"""A stage's state writes since its last commit, readable by the stage at once.

Handlers write state (:mod:`slither_stream.pipe.state`) into the stage's
:class:`WriteBuffer` instead of the store: reads look in the buffer first, so a
handler reads its own writes back at once, also across the records of one batch
(read-your-writes), and the store sees nothing until the stage commits. At commit
the stage's commit strategy produces the buffered writes to the tables'
changelogs (inside the transaction under exactly_once), makes them durable with
the stage's other writes, applies them (:meth:`StateTarget.committed`) and only
then commits the input offsets, in both delivery modes. The last write of a key in
an interval is the only one produced.

Writes are staged per attempt at an item (:meth:`WriteBuffer.stage`) and kept only
once the item's outcome is known to stand (:meth:`WriteBuffer.keep`): an item that
fails, is retried or dead-lettered leaves no state behind, and a retry starts from
what the earlier records left.

One buffer per stage, used from the stage's thread only.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from typing import Any

MISSING: Any = object()
"""What :meth:`WriteBuffer.read` returns for a key it holds no write of."""


class StateTarget(ABC):
    """One table that buffered writes go to: its changelog and its committed state."""

    topic: str
    """The table's changelog topic."""

    @property
    def partition(self) -> int | None:
        """The changelog partition of every write (None: by key, as the producer's
        partitioner places it)."""
        return None

    @abstractmethod
    def read(self, key: bytes) -> bytes | None:
        """The committed value of ``key`` (None: absent)."""

    @abstractmethod
    def committed(self, entries: dict[bytes, bytes | None]) -> None:
        """``entries`` (None: deleted) are durable in the changelog: make the table
        show them before the stage commits its input offsets."""

    @classmethod
    def prepare_commit(cls, targets: list[StateTarget]) -> None:
        """Called once per commit with every target of this class that has writes,
        before their :meth:`committed` calls (to ask the log something once for all
        of them)."""
        return None


class WriteBuffer:
    """Pending writes per target and key (None: a delete) since the last commit."""

    __slots__ = ("_pending", "_staged")

    def __init__(self) -> None:
        self._pending: dict[StateTarget, dict[bytes, bytes | None]] = {}
        self._staged: dict[StateTarget, dict[bytes, bytes | None]] | None = None

    # -- one attempt at an item -----------------------------------------------------

    def stage(self) -> None:
        """Begin an attempt at an item (or a batch): writes from now on are staged."""
        self._staged = {}

    def keep(self) -> None:
        """The attempt's outcome stands: its writes join the pending ones."""
        staged, self._staged = self._staged, None
        if not staged:
            return
        pending = self._pending
        for target, entries in staged.items():
            held = pending.get(target)
            if held is None:
                pending[target] = entries
            else:
                held.update(entries)

    def drop(self) -> None:
        """The attempt failed: forget its writes."""
        self._staged = None

    @property
    def staged_writes(self) -> int:
        """Writes staged by the attempt under way."""
        staged = self._staged
        return 0 if staged is None else sum(len(entries) for entries in staged.values())

    @property
    def staging(self) -> bool:
        """Whether an attempt is under way (writes are allowed)."""
        return self._staged is not None

    # -- reads and writes -------------------------------------------------------------

    def write(self, target: StateTarget, key: bytes, value: bytes | None) -> None:
        """Stage ``key -> value`` (None: delete) for ``target``."""
        staged = self._staged
        if staged is None:
            raise RuntimeError("state writes are staged per item: call stage() first")
        entries = staged.get(target)
        if entries is None:
            staged[target] = {key: value}
        else:
            entries[key] = value

    def read(self, target: StateTarget, key: bytes) -> bytes | None:
        """The latest value of ``key``: staged, else pending, else committed."""
        staged = self._staged
        if staged is not None:
            entries = staged.get(target)
            if entries is not None and key in entries:
                return entries[key]
        entries = self._pending.get(target)
        if entries is not None and key in entries:
            return entries[key]
        return target.read(key)

    # -- commit ---------------------------------------------------------------------

    def __bool__(self) -> bool:
        return bool(self._pending)

    def __len__(self) -> int:
        """Pending writes (one per target and key)."""
        return sum(len(entries) for entries in self._pending.values())

    def changelog(self) -> Iterator[tuple[str, int | None, bytes, bytes | None]]:
        """Every pending write as ``(topic, partition, key, value)``."""
        for target, entries in self._pending.items():
            topic, partition = target.topic, target.partition
            for key, value in entries.items():
                yield topic, partition, key, value

    def committed(self) -> None:
        """The pending writes are durable: apply them to their targets, then forget
        them."""
        pending, self._pending = self._pending, {}
        for kind in {type(target) for target in pending}:
            kind.prepare_commit([target for target in pending if type(target) is kind])
        for target, entries in pending.items():
            target.committed(entries)

    def discard(self) -> None:
        """Forget every pending and staged write (their records are read again)."""
        self._pending = {}
        self._staged = None
