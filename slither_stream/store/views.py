"""The view registry: session id -> views, plus global views for the application.

Compute code calls ``ctx.view("lookup_features_batch", keys=[...])``; the context's
``view_resolver`` is :meth:`ViewRegistry.resolve`, which finds the view registered
for the context's session (falling back to the global ones) and returns a callable
that checks the call against the view's mode and timeout.

Session views live exactly as long as a pipe run::

    with registry.session(ctx.session_id, stores=[feature_store]):
        ...run the pipe...   # views registered here, removed on exit, also on error

Global views (``scope="global"``) are registered by the :class:`StoreApp` when it
starts a store and removed when it stops.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from contextlib import contextmanager
from typing import Any

from slither_stream.errors import ConfigError, StoreError
from slither_stream.store.behaviour import Store
from slither_stream.store.spec import ViewSpec


class ViewRegistry:
    """Thread-safe map of session and global views; see the module docstring."""

    def __init__(self, *, timeout_workers: int = 4) -> None:
        self._lock = threading.Lock()
        self._global: dict[str, ViewSpec] = {}
        self._sessions: dict[str, dict[str, ViewSpec]] = {}
        self._timeout_workers = timeout_workers
        self._executor: ThreadPoolExecutor | None = None

    # -- registration --------------------------------------------------------------

    def register_global(self, views: Iterable[ViewSpec]) -> None:
        """Add application-wide views; a name already registered globally is an error."""
        chosen = _by_name(views, "global")
        with self._lock:
            clash = sorted(set(chosen) & set(self._global))
            if clash:
                raise ConfigError(f"global views already registered: {', '.join(clash)}")
            self._global.update(chosen)

    def unregister_global(self, names: Iterable[str]) -> None:
        with self._lock:
            for name in names:
                self._global.pop(name, None)

    def register_session(self, session_id: str, views: Iterable[ViewSpec]) -> None:
        """Add views for one session (a pipe run). Names must be unique per session."""
        if not isinstance(session_id, str) or not session_id:
            raise ConfigError(f"bad session id {session_id!r}: a non-empty string is required")
        chosen = _by_name(views, f"session {session_id}")
        with self._lock:
            existing = self._sessions.setdefault(session_id, {})
            clash = sorted(set(chosen) & set(existing))
            if clash:
                raise ConfigError(
                    f"session {session_id} already has views: {', '.join(clash)}"
                )
            existing.update(chosen)

    def unregister_session(self, session_id: str) -> None:
        """Remove every view of ``session_id`` (unknown sessions are fine)."""
        with self._lock:
            self._sessions.pop(session_id, None)

    @contextmanager
    def session(self, session_id: str, stores: Iterable[Store] = (),
                views: Iterable[ViewSpec] = ()) -> Iterator[ViewRegistry]:
        """Register the session-scoped views of ``stores`` (and ``views``) for the
        body of the ``with``; they are removed on exit, also when the body raises."""
        chosen = [view for store in stores for view in store.views()
                  if view.scope == "session"]
        chosen.extend(views)
        self.register_session(session_id, chosen)
        try:
            yield self
        finally:
            self.unregister_session(session_id)

    def sessions(self) -> list[str]:
        """Session ids that currently have views."""
        with self._lock:
            return sorted(self._sessions)

    def names(self, session_id: str | None = None) -> list[str]:
        """View names visible to ``session_id`` (global ones only when None)."""
        with self._lock:
            visible = set(self._global)
            if session_id is not None:
                visible |= set(self._sessions.get(session_id, {}))
        return sorted(visible)

    # -- resolution ----------------------------------------------------------------

    def resolve(self, session_id: str, name: str) -> Callable[..., Any]:
        """The callable for view ``name`` in ``session_id`` (session first, then global).

        This is the :data:`slither_stream.context.ViewResolver` to put on a Context.
        """
        with self._lock:
            spec = self._sessions.get(session_id, {}).get(name) or self._global.get(name)
        if spec is None:
            known = self.names(session_id)
            raise StoreError(
                f"no view {name!r} for session {session_id}; available: "
                f"{', '.join(known) if known else 'none'}"
            )
        return lambda **arguments: self._call(spec, arguments)

    def _call(self, spec: ViewSpec, arguments: dict[str, Any]) -> Any:
        if spec.mode == "batch":
            keys = arguments.get("keys")
            if not isinstance(keys, Sequence) or isinstance(keys, str | bytes):
                raise StoreError(
                    f"batch view {spec.name!r} is called with keys=[...], got "
                    f"{sorted(arguments)}"
                )
        result = self._run(spec, arguments)
        if spec.mode == "batch" and (
            not isinstance(result, Sequence) or len(result) != len(arguments["keys"])
        ):
            size = len(result) if isinstance(result, Sequence) else type(result).__name__
            raise StoreError(
                f"batch view {spec.name!r} returned {size} results for "
                f"{len(arguments['keys'])} keys; it must return one per key, in order"
            )
        return result

    def _run(self, spec: ViewSpec, arguments: dict[str, Any]) -> Any:
        if spec.timeout is None:
            return spec.handler(**arguments)
        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(self._timeout_workers,
                                                    thread_name_prefix="slither-view")
            executor = self._executor
        future = executor.submit(spec.handler, **arguments)
        try:
            return future.result(timeout=spec.timeout)
        except FutureTimeout:
            future.cancel()
            raise StoreError(
                f"view {spec.name!r} did not answer within {spec.timeout}s"
            ) from None

    def close(self) -> None:
        """Drop every view and stop the timeout worker threads."""
        with self._lock:
            self._global.clear()
            self._sessions.clear()
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)


def _by_name(views: Iterable[ViewSpec], where: str) -> dict[str, ViewSpec]:
    chosen: dict[str, ViewSpec] = {}
    for view in views:
        if not isinstance(view, ViewSpec):
            raise ConfigError(f"{view!r} is not a ViewSpec")
        if view.name in chosen:
            raise ConfigError(f"view {view.name!r} is declared twice in {where}")
        chosen[view.name] = view
    return chosen
