"""Hot reload: build generation N+1 beside the live one, then swap atomically.

Two sources:

* ``"changelog"`` — replay every changelog from the beginning into the new
  generation while writes continue on the old one; then, holding the write lock,
  apply what arrived meanwhile and swap.
* ``"load"`` — call the store's ``load(tables)`` against the new generation; then,
  holding the write lock, publish the difference between the old and the new contents
  to the changelog (changed or new keys, and tombstones for keys that disappeared) so
  every other host converges, checkpoint those offsets in the new generation, and
  swap. Writes made while ``load`` ran are superseded by its result.

The swap renames the pointer file into place and then replaces the owner's
generation reference, so a reader sees the old or the new generation, never half of
one. Any failure before the swap deletes the half-built directory and leaves the old
generation serving; a crash leaves it for the next start to delete.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from rocksdict import WriteBatch

from slither_stream import telemetry
from slither_stream.errors import ConfigError, StoreError
from slither_stream.store import generations as gens
from slither_stream.store.generations import Generation, raw_items
from slither_stream.store.recovery import restore
from slither_stream.store.table import TableReader

if TYPE_CHECKING:
    from slither_stream.store.behaviour import ReloadSource
    from slither_stream.store.owner import StoreOwner

_log = logging.getLogger(__name__)

LOAD_BATCH = 50_000


class TableLoader:
    """What ``load(tables)`` gets per table: writes go straight into the new generation."""

    def __init__(self, generation: Generation, reader: TableReader) -> None:
        self._generation = generation
        self._reader = reader
        self._handle = generation.handles[reader.name]
        self._batch = WriteBatch(raw_mode=True)
        self._pending = 0
        self.count = 0

    def put(self, key: Any, value: Any) -> None:
        """Add ``key`` -> ``value`` to the new generation."""
        self._batch.put(self._reader.encode_key(key),
                        self._reader.encode_value(key, value), self._handle)
        self._pending += 1
        self.count += 1
        if self._pending >= LOAD_BATCH:
            self.flush()

    def __setitem__(self, key: Any, value: Any) -> None:
        self.put(key, value)

    def bulk_insert(self, items: Iterable[tuple[Any, Any]] | dict[Any, Any]) -> int:
        """Add many pairs; returns how many."""
        pairs = items.items() if isinstance(items, dict) else items
        before = self.count
        for key, value in pairs:
            self.put(key, value)
        return self.count - before

    def flush(self) -> None:
        if self._pending:
            self._generation.write(self._batch, wal=False)
            self._batch = WriteBatch(raw_mode=True)
            self._pending = 0


def reload_store(owner: StoreOwner, source: ReloadSource | None) -> int:
    """Build, publish and swap in a new generation of ``owner``'s store."""
    chosen = source or ("load" if owner.store.has_loader else "changelog")
    if chosen not in ("changelog", "load"):
        raise ConfigError(f"reload source must be 'changelog' or 'load', not {chosen!r}")
    if chosen == "load" and not owner.store.has_loader:
        raise StoreError(f"store {owner.name!r} has no load(tables); reload from 'changelog'")
    with telemetry.span(telemetry.STORE_RELOAD, {"store": owner.name, "source": chosen}) as meta:
        number = owner.next_generation_number()
        meta["generation"] = number
        generation = owner.open_generation(number)
        try:
            if chosen == "changelog":
                _replay(owner, generation)
            else:
                _load(owner, generation)
        except BaseException:
            generation.close()
            gens.try_delete_generation(owner.store_dir, number)
            raise
    _log.info("store %s: generation %d is live (%s)", owner.name, number, chosen)
    return number


def _replay(owner: StoreOwner, generation: Generation) -> None:
    group = f"{owner.app}.{owner.name}.reload"
    restore(owner.log, generation, _topics(owner), store=owner.name, group=group,
            options=owner.restore_options, wal=False)
    with owner.write_lock, owner.applied:
        _catch_up_and_swap(owner, generation)


def _load(owner: StoreOwner, generation: Generation) -> None:
    loaders = {name: TableLoader(generation, owner.table(name)) for name in owner.specs}
    owner.store.load(loaders)
    for loader in loaders.values():
        loader.flush()
    with owner.write_lock, owner.applied:
        old = owner.current
        # Start from the old generation's checkpoints, publish the difference in one
        # transaction (all or nothing), then replay from those checkpoints: that
        # re-applies the difference (a no-op on these keys) and, in log order,
        # anything other hosts wrote meanwhile.
        partitions = [tp for topic in owner.topics.values()
                      for tp in owner.log.partitions_of(topic)]
        batch = WriteBatch(raw_mode=True)
        generation.put_checkpoints(batch, {
            tp: offset for tp, offset in old.checkpoints(partitions).items()
            if offset is not None})
        generation.write(batch, wal=False)
        owner.publish((name, chunk) for name in owner.specs
                      for chunk in _chunks(_differences(old, generation, name)))
        _catch_up_and_swap(owner, generation)


def _topics(owner: StoreOwner) -> dict[str, str]:
    return {topic: name for name, topic in owner.topics.items()}


def _catch_up_and_swap(owner: StoreOwner, generation: Generation) -> None:
    """Apply what reached the changelog since the build began, flush, swap.

    The caller holds the write lock and the ``applied`` condition, so no write or
    follower batch lands between the catch-up and the swap.
    """
    restore(owner.log, generation, _topics(owner), store=owner.name,
            group=f"{owner.app}.{owner.name}.reload", options=owner.restore_options, wal=False)
    generation.flush()
    owner.swap(generation)


def _chunks(changes: Iterator[tuple[bytes, bytes | None]]
            ) -> Iterator[list[tuple[bytes, bytes | None]]]:
    chunk: list[tuple[bytes, bytes | None]] = []
    for change in changes:
        chunk.append(change)
        if len(chunk) >= LOAD_BATCH:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _differences(old: Generation, new: Generation,
                 table: str) -> Iterator[tuple[bytes, bytes | None]]:
    """Changelog records that turn ``old``'s table into ``new``'s (a sorted merge)."""
    old_pairs = raw_items(old.tables[table])
    new_pairs = raw_items(new.tables[table])
    old_item = next(old_pairs, None)
    new_item = next(new_pairs, None)
    while old_item is not None or new_item is not None:
        if new_item is None or (old_item is not None and old_item[0] < new_item[0]):
            assert old_item is not None
            yield old_item[0], None
            old_item = next(old_pairs, None)
        elif old_item is None or new_item[0] < old_item[0]:
            yield new_item
            new_item = next(new_pairs, None)
        else:
            if old_item[1] != new_item[1]:
                yield new_item
            old_item = next(old_pairs, None)
            new_item = next(new_pairs, None)
