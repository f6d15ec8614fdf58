"""The Store behaviour: what a user store declares.

Subclass :class:`Store` and declare ``tables()``, optionally ``views()`` and
``load(tables)``::

    class FeatureStore(Store):
        name = "features"

        def tables(self):
            return [TableSpec("features"), TableSpec("by_user", type="ordered_set")]

        def views(self):
            return [ViewSpec("lookup_features_batch", self.lookup_many, mode="batch")]

        def load(self, tables):
            tables["features"].bulk_insert(read_feature_rows())

        def lookup_many(self, keys):
            return self.table("features").get_many(keys)

Once a :class:`~slither_stream.store.app.StoreApp` has started the store,
``self.table(name)`` returns the live :class:`~slither_stream.store.table.Table` and
``self.reload()`` builds and swaps a new generation.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from slither_stream.errors import StoreError
from slither_stream.store.spec import TableSpec, ViewSpec, check_name

if TYPE_CHECKING:
    from slither_stream.store.owner import StoreOwner
    from slither_stream.store.table import Table

ReloadSource = Literal["changelog", "load"]
"""Where a reload builds the new generation from: the changelog replayed from the
beginning, or the store's ``load(tables)``."""


class Store:
    """Base class of user stores. ``name`` defaults to the snake-cased class name."""

    name: ClassVar[str | None] = None

    _owner: StoreOwner | None = None

    def tables(self) -> Sequence[TableSpec]:
        """The store's tables. Every store has at least one."""
        raise StoreError(f"{type(self).__name__} must define tables()")

    def views(self) -> Sequence[ViewSpec]:
        """Named lookups for compute code (none by default)."""
        return ()

    def load(self, tables: Mapping[str, Any]) -> None:
        """Populate the tables from an outside source.

        ``tables`` maps table name to a loader with ``put(key, value)`` and
        ``bulk_insert(pairs)``; what it holds afterwards becomes the new generation
        and is published to the changelog. Stores that do not override this reload
        by replaying their changelog.
        """
        raise StoreError(f"{type(self).__name__} does not define load(tables)")

    # -- runtime -------------------------------------------------------------------

    @classmethod
    def store_name(cls) -> str:
        if cls.name is not None:
            return check_name("store", cls.name)
        return check_name("store", re.sub(r"(?<!^)(?=[A-Z])", "_", cls.__name__).lower())

    @property
    def has_loader(self) -> bool:
        """True if this store overrides :meth:`load`."""
        return type(self).load is not Store.load

    @property
    def owner(self) -> StoreOwner:
        if self._owner is None:
            raise StoreError(
                f"store {self.store_name()!r} is not started; start it with a StoreApp"
            )
        return self._owner

    def bind(self, owner: StoreOwner | None) -> None:
        """Attach (or detach, with None) the running owner; called by the app."""
        self._owner = owner

    def table(self, name: str) -> Table:
        """The live table ``name`` (reads and writes)."""
        return self.owner.table(name)

    def reload(self, source: ReloadSource | None = None) -> int:
        """Build a new generation and swap it in; returns its number."""
        return self.owner.reload(source)
