"""Table handles: reads straight from RocksDB, writes through the store's owner.

A :class:`TableReader` reads whatever generation its source currently serves (the
owner in this process, or a :class:`~slither_stream.store.reader.StoreReader` in
another). Every read call takes the generation reference once, so a call never mixes
two generations: a ``get_many`` during a reload answers entirely from the old or
entirely from the new one. Point reads take no lock; scans pin the generation so it
is not closed under them.

:class:`Table` adds the write methods, which go to the owner (see ``owner.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol, TypeVar

from rocksdict import DbClosedError

from slither_stream.errors import KeyNotFoundError, StoreError
from slither_stream.store.generations import Generation, raw_get, raw_get_many, raw_items
from slither_stream.store.keys import KeyEncodingError
from slither_stream.store.spec import TableSpec

T = TypeVar("T")

_MISSING: Any = object()


TableT = TypeVar("TableT", bound="TableReader")


def table_named(tables: Mapping[str, TableT], store: str, name: str) -> TableT:
    """``tables[name]``, or a StoreError that lists the store's tables."""
    table = tables.get(name)
    if table is None:
        raise StoreError(f"store {store!r} has no table {name!r}; tables: {', '.join(tables)}")
    return table


class GenerationSource(Protocol):
    """Whoever decides which generation a table reads (owner or StoreReader)."""

    @property
    def current(self) -> Generation: ...


class TableWriter(Protocol):
    """The owner's write entry points (serialized, changelog first)."""

    def put(self, table: str, key: Any, value: Any) -> None: ...

    def update(self, table: str, key: Any, fn: Callable[[Any], Any], default: Any) -> Any: ...

    def delete(self, table: str, key: Any) -> None: ...

    def bulk_insert(self, table: str, items: Iterable[tuple[Any, Any]]) -> int: ...


class TableReader:
    """Read access to one table of a store."""

    def __init__(self, source: GenerationSource, store: str, spec: TableSpec) -> None:
        self._source = source
        self.store = store
        self.spec = spec
        self.name = spec.name
        self._keys = spec.key_codec
        self._values = spec.value_codec
        self._encode = spec.key_codec.encode
        self._decode = spec.value_codec.decode

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.store}.{self.name} ({self.spec.type})>"

    # -- encoding with errors that name the table ------------------------------------

    def encode_key(self, key: Any) -> bytes:
        try:
            return self._keys.encode(key)
        except KeyEncodingError as error:
            raise StoreError(f"bad key {key!r} for table {self.store}.{self.name}: {error}") \
                from None

    def decode_key(self, data: bytes) -> Any:
        try:
            return self._keys.decode(data)
        except KeyEncodingError as error:
            raise StoreError(f"table {self.store}.{self.name}: {error}") from None

    def encode_value(self, key: Any, value: Any) -> bytes:
        try:
            return self._values.encode(value)
        except Exception as error:
            raise StoreError(
                f"bad value for key {key!r} in table {self.store}.{self.name}: "
                f"{type(value).__name__} cannot be encoded ({error})"
            ) from None

    def decode_value(self, key: Any, data: bytes) -> Any:
        try:
            return self._values.decode(data)
        except Exception as error:
            raise StoreError(
                f"stored value of key {key!r} in table {self.store}.{self.name} cannot be "
                f"decoded: {error}"
            ) from None

    # -- point reads ---------------------------------------------------------------

    def _raw_get(self, encoded: bytes, *, retired: Generation | None = None) -> bytes | None:
        generation = self._source.current
        if retired is None:
            try:
                return raw_get(generation.tables[self.name], encoded)
            except (DbClosedError, RuntimeError):
                retired = generation
                generation = self._source.current
        # The generation retired between reading the reference and the call (closed,
        # or being closed: "already borrowed"); read its successor.
        if generation is retired:
            raise StoreError(f"table {self.store}.{self.name}: generation "
                             f"{retired.number} is closed and has no successor")
        return raw_get(generation.tables[self.name], encoded)

    def get(self, key: Any, default: Any = None) -> Any:
        """The value stored under ``key``, or ``default``."""
        # The hottest call in the package: codec methods are bound once in __init__
        # and the error wrappers run only on failure.
        try:
            encoded = self._encode(key)
        except KeyEncodingError:
            encoded = self.encode_key(key)  # raises the StoreError naming the table
        generation = self._source.current
        try:
            raw = generation.tables[self.name].get(encoded)
        except (DbClosedError, RuntimeError):
            raw = self._raw_get(encoded, retired=generation)
        if raw is None:
            return default
        try:
            return self._decode(raw)
        except Exception:
            return self.decode_value(key, raw)  # raises the StoreError naming the key

    def get_strict(self, key: Any) -> Any:
        """The value under ``key``; :class:`KeyNotFoundError` names store, table, key."""
        value = self.get(key, _MISSING)
        if value is _MISSING:
            raise KeyNotFoundError(self.store, self.name, key)
        return value

    def __getitem__(self, key: Any) -> Any:
        return self.get_strict(key)

    def __contains__(self, key: Any) -> bool:
        return self._raw_get(self.encode_key(key)) is not None

    def get_many(self, keys: Sequence[Any], default: Any = None) -> list[Any]:
        """Values for ``keys`` in order (``default`` where absent), in one multi-get."""
        keys = list(keys)
        if not keys:
            return []
        encode = self._encode
        try:
            encoded = [encode(key) for key in keys]
        except KeyEncodingError:
            encoded = [self.encode_key(key) for key in keys]  # raises, naming the key
        generation = self._source.current
        try:
            raws = raw_get_many(generation.tables[self.name], encoded)
        except (DbClosedError, RuntimeError):
            successor = self._source.current
            if successor is generation:
                raise
            raws = raw_get_many(successor.tables[self.name], encoded)
        decode = self._decode
        try:
            return [default if raw is None else decode(raw) for raw in raws]
        except Exception:
            return [default if raw is None else self.decode_value(key, raw)
                    for key, raw in zip(keys, raws, strict=True)]

    # -- scans ---------------------------------------------------------------------

    def _pinned(self) -> AbstractContextManager[Generation]:
        """Pin the live generation (or its successor if it just retired)."""
        try:
            return self._source.current.pin()
        except StoreError:
            return self._source.current.pin()

    def _scan(self, lower: bytes | None, *, prefix: bytes | None = None,
              upper: bytes | None = None, reverse: bool = False) -> Iterator[tuple[bytes, bytes]]:
        """Raw pairs within the bounds (``lower <= key < upper``, or starting with
        ``prefix``), in byte order or reversed, all from one pinned generation."""
        with self._pinned() as generation:
            column = generation.tables[self.name]
            if reverse:
                for key, value in raw_items(column, from_key=upper, backwards=True):
                    if upper is not None and key >= upper:
                        continue
                    if lower is not None and key < lower:
                        return
                    yield key, value
                return
            for key, value in raw_items(column, from_key=lower):
                if prefix is not None and not key.startswith(prefix):
                    return
                if upper is not None and key >= upper:
                    return
                yield key, value

    def _decoded(self, pairs: Iterable[tuple[bytes, bytes]]) -> Iterator[tuple[Any, Any]]:
        for raw_key, raw_value in pairs:
            key = self.decode_key(raw_key)
            yield key, self.decode_value(key, raw_value)

    def items(self) -> Iterator[tuple[Any, Any]]:
        """Every (key, value), in key order for ``ordered_set`` (byte order for ``set``).

        The iterator reads one generation and keeps it open until it is exhausted or
        dropped, so do not park half-consumed iterators: a reload cannot retire the
        old generation while one is alive.
        """
        return self._decoded(self._scan(None))

    def keys(self) -> Iterator[Any]:
        """Every key (see :meth:`items`)."""
        for raw_key, _ in self._scan(None):
            yield self.decode_key(raw_key)

    def values(self) -> Iterator[Any]:
        """Every value (see :meth:`items`)."""
        for _, value in self.items():
            yield value

    def __iter__(self) -> Iterator[Any]:
        return self.keys()

    def match(self, prefix: Any) -> list[tuple[Any, Any]]:
        """Every (key, value) whose key starts with ``prefix`` (see ``keys.py``)."""
        try:
            encoded = self._keys.prefix(prefix)
        except KeyEncodingError as error:
            raise StoreError(
                f"bad prefix {prefix!r} for table {self.store}.{self.name}: {error}"
            ) from None
        return list(self._decoded(self._scan(encoded, prefix=encoded)))

    def select(
        self,
        start: Any = _MISSING,
        stop: Any = _MISSING,
        *,
        predicate: Callable[[Any, Any], bool] | None = None,
        reverse: bool = False,
        limit: int | None = None,
    ) -> list[tuple[Any, Any]]:
        """(key, value) pairs with ``start <= key < stop`` that satisfy ``predicate``.

        Key ranges need an ``ordered_set``; a ``predicate(key, value)`` works on both
        table types (it scans the table). ``reverse`` walks from ``stop`` down.
        """
        ranged = start is not _MISSING or stop is not _MISSING
        if ranged and not self.spec.ordered:
            raise StoreError(
                f"table {self.store}.{self.name} is a set: key ranges need an ordered_set "
                "(use predicate= to filter a set)"
            )
        if limit is not None and limit < 0:
            raise StoreError(f"select limit must be >= 0, not {limit}")
        lower = None if start is _MISSING else self.encode_key(start)
        upper = None if stop is _MISSING else self.encode_key(stop)
        found: list[tuple[Any, Any]] = []
        if limit == 0:
            return found
        for key, value in self._decoded(self._scan(lower, upper=upper, reverse=reverse)):
            if predicate is None or predicate(key, value):
                found.append((key, value))
                if limit is not None and len(found) >= limit:
                    break
        return found

    def fold(self, fn: Callable[[Any, Any, T], T], initial: T) -> T:
        """``fn(key, value, acc)`` over every entry, starting from ``initial``."""
        acc = initial
        for key, value in self.items():
            acc = fn(key, value, acc)
        return acc

    def size(self) -> int:
        """Exact number of entries (counts keys; O(n))."""
        return sum(1 for _ in self._scan(None))

    def __len__(self) -> int:
        return self.size()


class Table(TableReader):
    """A table in the owning process: reads as :class:`TableReader`, plus writes."""

    def __init__(self, source: GenerationSource, store: str, spec: TableSpec,
                 writer: TableWriter) -> None:
        super().__init__(source, store, spec)
        self._writer = writer

    def put(self, key: Any, value: Any) -> None:
        """Write ``key`` -> ``value``; returns once the changelog acknowledged it."""
        self._writer.put(self.name, key, value)

    def __setitem__(self, key: Any, value: Any) -> None:
        self.put(key, value)

    def update(self, key: Any, fn: Callable[[Any], Any], default: Any = None) -> Any:
        """Atomically replace the value with ``fn(old)`` (``fn(default)`` if absent).

        Returns the new value. Concurrent updates of one store are serialized.
        """
        return self._writer.update(self.name, key, fn, default)

    def delete(self, key: Any) -> None:
        """Remove ``key`` (a tombstone on the changelog); absent keys are fine."""
        self._writer.delete(self.name, key)

    def __delitem__(self, key: Any) -> None:
        self.delete(key)

    def bulk_insert(self, items: Iterable[tuple[Any, Any]] | dict[Any, Any]) -> int:
        """Write many pairs with one changelog flush and one RocksDB batch."""
        pairs = items.items() if isinstance(items, dict) else items
        return self._writer.bulk_insert(self.name, pairs)
