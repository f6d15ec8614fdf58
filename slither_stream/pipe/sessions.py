"""The stores of one pipe run (or one worker): started, exposed, views per session.

A pipe declares stores with ``pipe.store(name, StoreClass)``. For a run they are
started on the run's log through a :class:`~slither_stream.store.app.StoreApp`
(restored from their changelogs, or loaded), their session-scoped views registered
under the run's session id, and everything is undone when the run ends — also when
it fails. Stages see the stores as ``context.stores[name]`` and call views with
``context.view(name, ...)``.
"""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from slither_stream.context import ViewResolver
from slither_stream.log.base import Log
from slither_stream.pipe.definition import PipeDefinition


class StoreSession:
    """Context manager: the pipe's stores, running, with views for ``session_id``."""

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
            app = StoreApp([spec.store for spec in self.definition.stores], log=self.log,
                           app=self.definition.name,
                           data_dir=self.data_dir or DEFAULT_DATA_DIR)
            stack.enter_context(app)
            stack.enter_context(app.session(self.session_id))
            by_store_name = {store.store_name(): store for store in app.stores.values()}
            for spec, store in zip(self.definition.stores, by_store_name.values(),
                                   strict=True):
                self.stores[spec.name] = store
            self.resolver = app.views.resolve
            self._stack = stack.pop_all()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._stack.close()
