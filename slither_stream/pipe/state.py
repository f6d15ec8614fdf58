"""State writes from stage handlers: buffered, read back at once, committed with the
stage's outputs.

A local stage handler reads and writes a pipe store's tables through these::

    from slither_stream.pipe import state

    def remember(item, ctx):
        seen = state.get(ctx, "tally", "last_seen", item.payload["user"], default=0)
        state.put(ctx, "tally", "last_seen", item.payload["user"], seen + 1)
        return item.payload

Inside a stage a write is not applied at once: it goes into the stage's write
buffer (:mod:`slither_stream.pipe.engine.write_buffer`), where :func:`get` finds it
at once, also for later records of the same batch. At commit the stage produces the
buffered writes to the tables' changelogs (inside its transaction under
exactly_once), waits until the stores have applied them, and only then commits its
input offsets, in both delivery modes. Writes of an item that failed (or was
retried, or dead-lettered) are dropped, so they never reach the store.

Outside a stage (a script, a test) :func:`put` and :func:`delete` write through the
store's owner at once, as ``store.table(name).put`` does.

Writes need the store's owner in this process (a Runner, or a worker on the
embedded log); worker processes that read stores through StoreReaders cannot write
them: state that grows with the input and scales with the consumer group belongs
in partitioned state.
"""

from __future__ import annotations

import threading
from typing import Any

from slither_stream.context import Context
from slither_stream.errors import StoreError
from slither_stream.pipe.engine.global_tables import GlobalTableTarget
from slither_stream.pipe.engine.write_buffer import WriteBuffer

_local = threading.local()


def install(buffer: WriteBuffer | None) -> None:
    """Make ``buffer`` the write buffer of this thread's stage (None: no stage)."""
    _local.buffer = buffer
    _local.targets = {}


def current_buffer() -> WriteBuffer | None:
    """The write buffer of the stage running on this thread, if any."""
    buffer: WriteBuffer | None = getattr(_local, "buffer", None)
    return buffer


def get(ctx: Context, store: str, table: str, key: Any, default: Any = None) -> Any:
    """The value of ``key`` in ``store.table`` as this stage last wrote it (its
    buffered writes first), or ``default``."""
    buffer = current_buffer()
    if buffer is None:
        return _table(ctx, store, table).get(key, default)
    target = _target(ctx, store, table)
    encoded = target.table.encode_key(key)
    raw = buffer.read(target, encoded)
    return default if raw is None else target.table.decode_value(key, raw)


def put(ctx: Context, store: str, table: str, key: Any, value: Any) -> None:
    """Write ``key -> value`` to ``store.table`` (see the module docstring)."""
    _write(ctx, store, table, key, value, delete=False)


def delete(ctx: Context, store: str, table: str, key: Any) -> None:
    """Delete ``key`` from ``store.table`` (see the module docstring)."""
    _write(ctx, store, table, key, None, delete=True)


def _write(ctx: Context, store: str, table: str, key: Any, value: Any, *,
           delete: bool) -> None:
    buffer = current_buffer()
    if buffer is None:
        owner = _owner(ctx, store)
        if delete:
            owner.delete(table, key)
        else:
            owner.put(table, key, value)
        return
    if not buffer.staging:
        raise StoreError("state writes must be made from a stage handler processing an "
                         "item (not from another thread)")
    target = _target(ctx, store, table)
    encoded = None if delete else target.table.encode_value(key, value)
    buffer.write(target, target.table.encode_key(key), encoded)


def _owner(ctx: Context, store: str) -> Any:
    found = ctx.stores.get(store)
    if found is None:
        known = ", ".join(ctx.stores) or "none"
        raise StoreError(f"no store {store!r} in this run (stores: {known})")
    owner = found.owner
    if getattr(owner, "topics", None) is None:
        raise StoreError(f"store {store!r} is read through a StoreReader in this process; "
                         "writes belong to its owner")
    return owner


def _table(ctx: Context, store: str, table: str) -> Any:
    found = ctx.stores.get(store)
    if found is None:
        known = ", ".join(ctx.stores) or "none"
        raise StoreError(f"no store {store!r} in this run (stores: {known})")
    return found.table(table)


def _target(ctx: Context, store: str, table: str) -> GlobalTableTarget:
    targets: dict[tuple[str, str], GlobalTableTarget] = _local.targets
    target = targets.get((store, table))
    if target is None:
        target = targets[(store, table)] = GlobalTableTarget(_owner(ctx, store), table)
    return target
