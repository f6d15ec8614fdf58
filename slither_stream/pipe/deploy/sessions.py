"""The stores of one pipe run (or one worker): started, exposed, views per session.

A pipe declares stores with ``pipe.store(name, StoreClass)``. Two ways to have them:

* :class:`StoreSession` (owner) — for a run, or a single worker process: the stores
  are started on the log through a :class:`~slither_stream.store.app.StoreApp`
  (restored from their changelogs, or loaded), named after the pipe's namespace.
* :class:`ReaderSession` (reader) — for worker processes next to an owner (the
  supervisor runs it): each store is read through a
  :class:`~slither_stream.store.reader.StoreReader` (RocksDB secondary instance of
  the owner's files), so many processes on a host share one copy and one writer.

Either way the stores' session-scoped views are registered under the session id for
the session's lifetime and removed when it ends — also when it fails. Stages see the
stores as ``context.stores[name]`` and call views with ``context.view(name, ...)``.

The stores' app is the pipe's namespace (the pipe name unless deployed under
another), so everything a deployment's stores create or read belongs to it:
changelogs ``<ns>.<store>.<table>.changelog``, the control topics ``<ns>.control``,
restore / follow / reload groups, the owner's transactional id and the directory
``<data_dir>/<ns>/<store>``. Two deployments of one pipe under two namespaces share
no store data.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
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


class _Session(ABC):
    """What both sessions share: the pipe's store instances, opened on ``__enter__``
    by :meth:`_open` inside one ExitStack (so a failure half-way closes what was
    opened), exposed as ``stores`` / ``resolver``, and closed on ``__exit__``."""

    def __init__(self, definition: PipeDefinition, session_id: str, *,
                 data_dir: str | Path | None = None) -> None:
        self.definition = definition
        self.session_id = session_id
        self.data_dir = data_dir
        self.stores: dict[str, Any] = {}
        self.resolver: ViewResolver | None = None
        self._stack = ExitStack()

    @abstractmethod
    def _open(self, stack: ExitStack, instances: list[Any]) -> ViewResolver:
        """Start (or attach to) ``instances`` on ``stack``; return the view resolver."""

    def _data_dir(self) -> str | Path:
        from slither_stream.store.app import DEFAULT_DATA_DIR

        return self.data_dir or DEFAULT_DATA_DIR

    def __enter__(self) -> Self:
        if not self.definition.stores:
            return self
        with ExitStack() as stack:
            instances = store_instances(self.definition)
            self.resolver = self._open(stack, instances)
            for spec, store in zip(self.definition.stores, instances, strict=True):
                self.stores[spec.name] = store
            self._stack = stack.pop_all()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._stack.close()


class StoreSession(_Session):
    """Context manager: the pipe's stores, owned and running, with views for
    ``session_id``."""

    def __init__(self, definition: PipeDefinition, log: Log, session_id: str, *,
                 data_dir: str | Path | None = None) -> None:
        super().__init__(definition, session_id, data_dir=data_dir)
        self.log = log

    def _open(self, stack: ExitStack, instances: list[Any]) -> ViewResolver:
        from slither_stream.store.app import StoreApp

        # stages write their state to the changelogs themselves and apply it to
        # the live generation once committed (pipe/engine/global_tables.py)
        app = StoreApp(instances, log=self.log, app=self.definition.namespace,
                       data_dir=self._data_dir())
        stack.enter_context(app)
        stack.enter_context(app.session(self.session_id))
        return app.views.resolve


class _ReaderTables:
    """Stands in for a store's owner inside a reader process: ``table(name)`` answers
    from the :class:`StoreReader`, so the store's own view methods work unchanged
    (reads only; writes belong to the owner)."""

    def __init__(self, reader: Any) -> None:
        self._reader = reader

    def table(self, name: str) -> Any:
        return self._reader.table(name)


class ReaderSession(_Session):
    """Context manager: the pipe's stores read through StoreReaders from an owner
    running elsewhere on the host, with views for ``session_id``."""

    def _open(self, stack: ExitStack, instances: list[Any]) -> ViewResolver:
        from slither_stream.store.owner import StoreOwner
        from slither_stream.store.reader import StoreReader
        from slither_stream.store.views import ViewRegistry

        for store in instances:
            reader = StoreReader(store, app=self.definition.namespace,
                                 data_dir=self._data_dir())
            stack.callback(reader.close)
            store.bind(cast(StoreOwner, _ReaderTables(reader)))
            stack.callback(store.bind, None)
        registry = ViewRegistry()
        stack.callback(registry.close)
        stack.enter_context(registry.session(self.session_id, instances))
        return registry.resolve
