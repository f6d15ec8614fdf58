"""Finding the store a ``slither replay`` / ``slither reload`` is about.

``STORE`` is ``LOCATION:NAME``: LOCATION is a topology file (``topologies/scoring.py``)
or a module (``topologies.scoring``); NAME is, in this order,

1. the name a pipe of that module gives a store (``pipe.store("features", ...)``):
   the store's app is then the pipe's namespace, as for ``slither worker``: the pipe
   name, or ``--namespace`` (the same value the workers were given);
2. a :class:`Store` subclass or instance defined there (``FeatureStore``): its app is
   the namespace of a pipe of the module that declares it, else ``slither`` (the
   :class:`StoreApp` default).

``--app`` names the app directly (a store run by a :class:`StoreApp` of one's own);
with ``--namespace`` too it must agree. The store's directory is
``<data-dir>/<app>/<store name>``, with ``--data-dir`` defaulting to the directory a
worker started in the current directory uses.
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import click

from slither_stream.cli._common import DEBUG_ENV, EXIT_USAGE, failure
from slither_stream.errors import ConfigError
from slither_stream.store.behaviour import Store

DEFAULT_APP = "slither"


@dataclass(frozen=True)
class StoreTarget:
    """A resolved store: a fresh instance, its app and its directory."""

    reference: str
    store: Store
    app: str
    data_dir: Path

    @property
    def name(self) -> str:
        return self.store.store_name()

    @property
    def store_dir(self) -> Path:
        return self.data_dir / self.app / self.name


def resolve_store(reference: str, *, app: str | None, data_dir: Path,
                  namespace: str | None = None) -> StoreTarget:
    """The store named by ``reference`` in ``namespace`` (default: the declaring
    pipe's name); a one-line usage error when it cannot be found."""
    from slither_stream.pipe.declaration import Pipe

    if app is not None and namespace is not None and app != namespace:
        raise failure(f"--app {app!r} and --namespace {namespace!r} disagree: a pipe's "
                      "stores belong to its namespace; give one of them", EXIT_USAGE)
    app = app or namespace

    location, colon, name = reference.rpartition(":")
    if not colon or not location or not name:
        raise failure(f"bad store reference {reference!r}: expected FILE.py:NAME or "
                      "module:NAME (a store named by a pipe, or a Store class)", EXIT_USAGE)
    module = _import(location)
    pipes = list({id(v): v for v in vars(module).values() if isinstance(v, Pipe)}.values())
    declared = [(pipe, spec) for pipe in pipes for spec in pipe.stores if spec.name == name]
    if len(declared) > 1:
        names = ", ".join(pipe.name for pipe, _ in declared)
        raise failure(f"{reference!r} is ambiguous: pipes {names} each declare a store "
                      f"{name!r}; name the Store class instead", EXIT_USAGE)
    if declared:
        pipe, spec = declared[0]
        store = _instance(spec.store, reference)
        return StoreTarget(reference, store, app or pipe.name, data_dir)
    found = getattr(module, name, None)
    if found is None:
        known = sorted({spec.name for pipe in pipes for spec in pipe.stores}
                       | {key for key, value in vars(module).items()
                          if isinstance(value, type) and issubclass(value, Store)
                          and value is not Store})
        raise failure(f"{location!r} has no store {name!r} (stores there: "
                      f"{', '.join(known) or 'none'})", EXIT_USAGE)
    store = _instance(found, reference)
    owners = [pipe.name for pipe in pipes for spec in pipe.stores
              if spec.store is found or spec.store is type(store)]
    return StoreTarget(reference, store, app or (owners[0] if owners else DEFAULT_APP),
                       data_dir)


def _instance(value: Any, reference: str) -> Store:
    try:
        store = value() if isinstance(value, type) else value
    except Exception as error:
        if os.environ.get(DEBUG_ENV):
            raise
        raise failure(f"cannot instantiate store {reference!r}: {type(error).__name__}: "
                      f"{error}", EXIT_USAGE) from error
    if not isinstance(store, Store):
        raise failure(f"{reference!r} is not a Store (found {value!r})", EXIT_USAGE)
    return store


def _import(location: str) -> ModuleType:
    from slither_stream.pipe.loading import _import_file

    path = Path(location)
    try:
        if path.suffix == ".py" or path.exists():
            if not path.is_file():
                raise ConfigError(f"file {location!r} does not exist")
            module: ModuleType = _import_file(path.resolve())
            return module
        return importlib.import_module(location)
    except click.ClickException:
        raise
    except ConfigError as error:
        raise failure(str(error), EXIT_USAGE) from error
    except Exception as error:
        if os.environ.get(DEBUG_ENV):
            raise
        raise failure(f"cannot import {location!r}: {type(error).__name__}: {error}",
                      EXIT_USAGE) from error
