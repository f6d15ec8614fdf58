"""StoreApp: the configured stores of an application, started and stopped together.

::

    with StoreApp([FeatureStore], log="embedded://.slither", app="fraud") as stores:
        features = stores["features"].table("features")
        features.put("u1", {"avg": 12.5})
        ctx = stores.context(pipe="scoring")
        with stores.session(ctx.session_id):
            ctx.view("lookup_features_batch", keys=["u1", "u2"])

``start`` restores every store from its changelog before returning (so reads are
complete), registers the global views, and binds each store instance to its owner;
``stop`` undoes it in reverse order.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from slither_stream.context import Context
from slither_stream.errors import ConfigError, StoreError
from slither_stream.log import open_log
from slither_stream.log.base import Log
from slither_stream.store.behaviour import ReloadSource, Store
from slither_stream.store.generations import DEFAULT_BLOCK_CACHE_MB
from slither_stream.store.owner import StoreOwner
from slither_stream.store.recovery import RestoreOptions
from slither_stream.store.views import ViewRegistry

DEFAULT_DATA_DIR = ".slither-stores"


class StoreApp:
    """Starts configured stores (restore first), exposes them by name, stops them.

    ``stores``: Store classes or instances, or ``"package.module:ClassName"`` strings
    (so a configuration file can list them). ``log``: a Log, a log URL, or None for
    :func:`~slither_stream.log.default_log_url`. ``app``: prefix of the changelog
    topics and of the directory under ``data_dir``. ``grace_period``: seconds a
    retired generation stays open for in-flight reads. ``follow``: apply changelog
    records from every host (multi-host deployments; see ``follower.py``).
    ``block_cache_mb``: RocksDB block cache per open generation.
    """

    def __init__(
        self,
        stores: Iterable[Store | type[Store] | str],
        *,
        log: Log | str | None = None,
        app: str = "slither",
        data_dir: str | Path = DEFAULT_DATA_DIR,
        grace_period: float = 10.0,
        restore: RestoreOptions | None = None,
        views: ViewRegistry | None = None,
        follow: bool = False,
        block_cache_mb: int = DEFAULT_BLOCK_CACHE_MB,
    ) -> None:
        self.app = app
        self.follow = follow
        self.block_cache_mb = block_cache_mb
        self.data_dir = Path(data_dir)
        self.grace_period = grace_period
        self.restore_options = restore
        self.views = views if views is not None else ViewRegistry()
        self._own_views = views is None
        self._log_spec = log
        self._log: Log | None = log if isinstance(log, Log) else None
        self._stores: dict[str, Store] = {}
        for declared in stores:
            entry = import_store(declared) if isinstance(declared, str) else declared
            store = entry() if isinstance(entry, type) else entry
            if not isinstance(store, Store):
                raise ConfigError(f"{entry!r} is not a Store (subclass slither_stream.store.Store)")
            name = store.store_name()
            if name in self._stores:
                raise ConfigError(f"two stores are named {name!r}")
            self._stores[name] = store
        self._started: list[str] = []

    # -- lifecycle -----------------------------------------------------------------

    @property
    def log(self) -> Log:
        if self._log is None:
            spec = self._log_spec if isinstance(self._log_spec, str) else None
            self._log = open_log(spec)
        return self._log

    def start(self) -> StoreApp:
        """Restore and start every store, then register global views."""
        try:
            for name, store in self._stores.items():
                if name in self._started:
                    continue
                owner = StoreOwner(store, self.log, app=self.app, data_dir=self.data_dir,
                                   grace_period=self.grace_period,
                                   restore_options=self.restore_options,
                                   follow=self.follow, block_cache_mb=self.block_cache_mb)
                store.bind(owner)
                try:
                    owner.start()
                except BaseException:
                    store.bind(None)
                    raise
                self._started.append(name)
                self.views.register_global(v for v in store.views() if v.scope == "global")
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop stores in reverse start order; close the log if this app opened it."""
        errors: list[BaseException] = []
        for name in reversed(self._started):
            store = self._stores[name]
            self.views.unregister_global(v.name for v in store.views() if v.scope == "global")
            try:
                store.owner.close()
            except Exception as error:
                errors.append(error)
            store.bind(None)
        self._started.clear()
        if self._own_views:
            self.views.close()
        if self._log is not None and not isinstance(self._log_spec, Log):
            self._log.close()
            self._log = None
        if errors:
            raise StoreError(f"{len(errors)} store(s) failed to stop: {errors}") from errors[0]

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    # -- access --------------------------------------------------------------------

    @property
    def stores(self) -> Mapping[str, Store]:
        return dict(self._stores)

    def __getitem__(self, name: str) -> Store:
        store = self._stores.get(name)
        if store is None:
            raise StoreError(f"no store {name!r}; configured: {', '.join(self._stores)}")
        return store

    def reload(self, store: str | Store, source: ReloadSource | None = None) -> int:
        """Reload one store (by name or instance); returns the new generation number."""
        target = self[store] if isinstance(store, str) else store
        return target.reload(source)

    def context(self, **fields: Any) -> Context:
        """A run Context carrying these stores and this app's view resolver."""
        return Context(stores=self.stores, view_resolver=self.views.resolve, **fields)

    @contextmanager
    def session(self, session_id: str) -> Iterator[ViewRegistry]:
        """Register every store's session views for ``session_id`` (a pipe run)."""
        with self.views.session(session_id, self._stores.values()) as registry:
            yield registry


def import_store(path: str) -> type[Store]:
    """The Store class named ``"package.module:ClassName"``; ConfigError otherwise."""
    module_name, colon, attribute = path.partition(":")
    if not colon or not module_name or not attribute:
        raise ConfigError(f"bad store reference {path!r}: expected 'package.module:ClassName'")
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise ConfigError(f"cannot import store module {module_name!r}: {error}") from None
    found = getattr(module, attribute, None)
    if not (isinstance(found, type) and issubclass(found, Store)):
        raise ConfigError(f"{path!r} is not a Store subclass (found {found!r})")
    return found
