"""Store writes from local stages that commit atomically with the stage's outputs.

A local stage handler writes through :func:`put` / :func:`delete`::

    from slither_stream.pipe import state

    def remember(item, ctx):
        state.put(ctx, "tally", "last_seen", item.payload["user"], item.payload["ts"])
        return item.payload

Under ``exactly_once`` the write is not applied at once: it is buffered for the item
and produced to the table's changelog *inside the stage's transaction*, with the
stage's outputs and input offsets. The pipe's stores run in follow mode, so the
store applies a changelog record only once its transaction committed; writes of an
item that failed (or of an aborted transaction) are never applied. Consequently a
handler does not read its own buffered writes back within the batch.

Under ``at_least_once`` the write goes straight to the store's owner (changelog,
then RocksDB), as ``store.table(name).put`` would.

Writes need the store's owner in this process (a Runner, or a worker on the
embedded log); worker processes that read stores through StoreReaders cannot write.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from slither_stream.context import Context
from slither_stream.errors import StoreError

_local = threading.local()


@dataclass(frozen=True)
class ChangelogWrite:
    """One buffered store write, already encoded for the table's changelog."""

    topic: str
    key: bytes
    value: bytes | None


class WriteBuffer:
    """Buffered writes per item (by object identity: duplicates may share ids)."""

    def __init__(self) -> None:
        self._by_item: dict[int, list[ChangelogWrite]] = {}

    def start_item(self, item: object) -> None:
        """A fresh attempt at ``item``: drop what an earlier attempt buffered."""
        self._by_item[id(item)] = []

    def add(self, item: object, write: ChangelogWrite) -> None:
        self._by_item.setdefault(id(item), []).append(write)

    def writes_of(self, item: object) -> list[ChangelogWrite]:
        return list(self._by_item.get(id(item), ()))


@contextmanager
def buffering(buffer: WriteBuffer) -> Iterator[WriteBuffer]:
    """Buffer :func:`put` / :func:`delete` calls made on this thread into ``buffer``."""
    previous = getattr(_local, "buffer", None)
    _local.buffer = buffer
    try:
        yield buffer
    finally:
        _local.buffer = previous


def buffering_active() -> bool:
    """Whether :func:`buffering` is in effect on this thread (a stage checks once per
    batch, so items outside transactions skip :func:`item_scope` entirely)."""
    return getattr(_local, "buffer", None) is not None


@contextmanager
def item_scope(item: object) -> Iterator[None]:
    """Attribute writes made in the body to ``item`` (set by the local stage)."""
    previous = attribute(item)
    try:
        yield
    finally:
        restore(previous)


def attribute(item: object) -> object | None:
    """Attribute writes made from now on, on this thread, to a fresh attempt at
    ``item``; returns what :func:`restore` needs. :func:`item_scope` without the
    generator, for the per-record loop of an exactly_once stage (a contextmanager
    costs about a microsecond per use)."""
    buffer: WriteBuffer | None = getattr(_local, "buffer", None)
    previous = getattr(_local, "item", None)
    if buffer is not None:
        buffer.start_item(item)
        _local.item = item
    return previous


def restore(previous: object | None) -> None:
    """Undo :func:`attribute` (``previous`` is what it returned)."""
    _local.item = previous


def put(ctx: Context, store: str, table: str, key: Any, value: Any) -> None:
    """Write ``key -> value`` to ``store.table`` (see the module docstring)."""
    _write(ctx, store, table, key, value, delete=False)


def delete(ctx: Context, store: str, table: str, key: Any) -> None:
    """Delete ``key`` from ``store.table`` (see the module docstring)."""
    _write(ctx, store, table, key, None, delete=True)


def _write(ctx: Context, store: str, table: str, key: Any, value: Any, *,
           delete: bool) -> None:
    found = ctx.stores.get(store)
    if found is None:
        known = ", ".join(ctx.stores) or "none"
        raise StoreError(f"no store {store!r} in this run (stores: {known})")
    owner = found.owner
    topics = getattr(owner, "topics", None)
    if topics is None:
        raise StoreError(f"store {store!r} is read through a StoreReader in this process; "
                         "writes belong to its owner")
    buffer: WriteBuffer | None = getattr(_local, "buffer", None)
    if buffer is None:
        if delete:
            owner.delete(table, key)
        else:
            owner.put(table, key, value)
        return
    handle = owner.table(table)
    item = getattr(_local, "item", None)
    if item is None:
        raise StoreError("transactional store writes must be made from a local stage "
                         "handler processing an item")
    encoded = None if delete else handle.encode_value(key, value)
    buffer.add(item, ChangelogWrite(topics[table], handle.encode_key(key), encoded))
