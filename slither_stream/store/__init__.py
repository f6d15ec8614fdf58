"""Stores: RocksDB-backed changelog tables with restore, hot reload and views.

Public API (everything else in this package is internal):

- :class:`Store`, :class:`TableSpec`, :class:`ViewSpec` -- declare a store.
- :class:`StoreApp` -- start configured stores (restore), reach them by name, stop.
- :class:`Table` / :class:`TableReader` -- the read and write API of one table.
- :class:`StoreReader` -- read a store from another process (RocksDB secondary).
- :class:`ViewRegistry` -- session and global views behind ``ctx.view(...)``.
- :func:`reload` -- build a new generation and swap it in.
- :class:`RestoreProgress`, :class:`RestoreOptions` -- restore tuning and progress.
- :func:`changelog_topic` -- the changelog topic name of a table.

Module map: ``spec`` (declarations), ``keys`` / ``values`` (encodings), ``table``
(reads, write entry points), ``owner`` (the single writer: lifecycle and
generations), ``writes`` (its changelog-first write path), ``follower`` (follow
mode: apply every host's changelog records), ``recovery`` (changelog restore),
``reload`` (generation builds), ``generations`` (directories, pointer, locks),
``retirement`` (deferred close/delete), ``reader`` (StoreReader), ``views``, ``app``.
"""

from __future__ import annotations

from slither_stream.store.app import StoreApp
from slither_stream.store.behaviour import ReloadSource, Store
from slither_stream.store.owner import StoreOwner, changelog_topic
from slither_stream.store.reader import StoreReader
from slither_stream.store.recovery import RestoreOptions, RestoreProgress
from slither_stream.store.reload import TableLoader
from slither_stream.store.spec import TableSpec, ViewSpec
from slither_stream.store.table import Table, TableReader
from slither_stream.store.views import ViewRegistry


def reload(store: Store, source: ReloadSource | None = None) -> int:
    """Reload a started store; returns the new generation number.

    ``source``: ``"changelog"`` (replay from the beginning), ``"load"`` (call the
    store's ``load`` and publish the result), or None (``load`` if defined).
    """
    return store.reload(source)


__all__ = [
    "ReloadSource",
    "RestoreOptions",
    "RestoreProgress",
    "Store",
    "StoreApp",
    "StoreOwner",
    "StoreReader",
    "Table",
    "TableLoader",
    "TableReader",
    "TableSpec",
    "ViewRegistry",
    "ViewSpec",
    "changelog_topic",
    "reload",
]
