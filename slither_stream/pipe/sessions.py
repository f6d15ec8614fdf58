"""The stores of one pipe run (or one worker): started, exposed, views per session.

A pipe declares stores with ``pipe.store(name, StoreClass)``. Two ways to have them:

* :class:`StoreSession` (owner) — for a run, or a single worker process: the stores
  are started on the log through a :class:`~slither_stream.store.app.StoreApp`
  (restored from their changelogs, or loaded), named after the pipe.
* :class:`ReaderSession` (reader) — for worker processes next to an owner (the
  supervisor runs it): each store is read through a
  :class:`~slither_stream.store.reader.StoreReader` (RocksDB secondary instance of
  the owner's files), so many processes on a host share one copy and one writer.

Either way the stores' session-scoped views are registered under the session id for
the session's lifetime and removed when it ends — also when it fails. Stages see the
stores as ``context.stores[name]`` and call views with ``context.view(name, ...)``.
"""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path
from types import TracebackType
from typing import Any, Self, cast

from slither_stream.context import ViewResolver
from slither_stream.log.base import Log
from slither_stream.pipe.definition import PipeDefinition


def store_instances(definition: PipeDefinition) -> list[Any]:
    """A fresh instance of every declared store (classes are instantiated)."""
    return [spec.store() if isinstance(spec.store, type) else spec.store
            for spec in definition.stores]


class StoreSession:
    """Context manager: the pipe's stores, owned and running, with views for
    ``session_id``."""

    def __init__(self, definition: PipeDefinition, log: Log, session_id: str, *,
                 data_dir: str | Path | None = None) -> None:
        self.definition = definition
        self.log = log
        self.session_id = session_id
        self.data_dir = data_dir
        self.stores: dict[str, Any] = {}
        self.resolver: ViewResolver | None = None
        self._stack = ExitStack()

    def __enter__(self) -> Self:
        if not self.definition.stores:
            return self
        from slither_stream.store.app import DEFAULT_DATA_DIR, StoreApp

        with ExitStack() as stack:
            instances = store_instances(self.definition)
            # exactly_once: stages write changelog records inside their transactions
            # (pipe.state); the stores apply them from the changelog once committed
            app = StoreApp(instances, log=self.log, app=self.definition.name,
                           data_dir=self.data_dir or DEFAULT_DATA_DIR,
                           follow=self.definition.delivery == "exactly_once")
            stack.enter_context(app)
            stack.enter_context(app.session(self.session_id))
            for spec, store in zip(self.definition.stores, instances, strict=True):
                self.stores[spec.name] = store
            self.resolver = app.views.resolve
            self._stack = stack.pop_all()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._stack.close()


class _ReaderTables:
    """Stands in for a store's owner inside a reader process: ``table(name)`` answers
    from the :class:`StoreReader`, so the store's own view methods work unchanged
    (reads only; writes belong to the owner)."""

    def __init__(self, reader: Any) -> None:
        self._reader = reader

    def table(self, name: str) -> Any:
        return self._reader.table(name)


class ReaderSession:
    """Context manager: the pipe's stores read through StoreReaders from an owner
    running elsewhere on the host, with views for ``session_id``."""

    def __init__(self, definition: PipeDefinition, session_id: str, *,
                 data_dir: str | Path | None = None) -> None:
        self.definition = definition
        self.session_id = session_id
        self.data_dir = data_dir
        self.stores: dict[str, Any] = {}
        self.resolver: ViewResolver | None = None
        self._stack = ExitStack()

    def __enter__(self) -> Self:
        if not self.definition.stores:
            return self
        from slither_stream.store.app import DEFAULT_DATA_DIR
        from slither_stream.store.owner import StoreOwner
        from slither_stream.store.reader import StoreReader
        from slither_stream.store.views import ViewRegistry

        with ExitStack() as stack:
            instances = store_instances(self.definition)
            for spec, store in zip(self.definition.stores, instances, strict=True):
                reader = StoreReader(store, app=self.definition.name,
                                     data_dir=self.data_dir or DEFAULT_DATA_DIR)
                stack.callback(reader.close)
                store.bind(cast(StoreOwner, _ReaderTables(reader)))
                stack.callback(store.bind, None)
                self.stores[spec.name] = store
            registry = ViewRegistry()
            stack.callback(registry.close)
            stack.enter_context(registry.session(self.session_id, instances))
            self.resolver = registry.resolve
            self._stack = stack.pop_all()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._stack.close()
