"""The work envelope that flows through dispatch and pipes.

An :class:`Item` wraps a payload with a stable ``id`` (for ordering and for
attributing errors), an optional ``key`` (partitioning on the log, key-partitioned
batching), stage-local ``meta`` and a ``route`` tag. Items are values: stages return
new items with :meth:`Item.update_payload` / :meth:`Item.put_meta`, so a retried batch
never sees half-applied changes. (Immutability is a convention, not enforced: a
frozen dataclass pays ``object.__setattr__`` per field, and every stage builds two
items per record.)
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

DEFAULT_ROUTE = "default"

_next_free_id = 1
_ids_lock = threading.Lock()


def _take_ids(count: int) -> range:
    """Reserve ``count`` consecutive process-wide ids."""
    global _next_free_id
    with _ids_lock:
        first = _next_free_id
        _next_free_id += count
    return range(first, first + count)


def next_id() -> int:
    """A process-wide monotonically increasing id."""
    return _take_ids(1)[0]


@dataclass(slots=True)
class Item:
    """One unit of work: ``payload`` plus the metadata the framework needs.

    Treat it as immutable (see the module docstring): derive changed items with
    :meth:`update_payload`, :meth:`put_meta` and :meth:`with_route`.
    """

    id: int
    payload: Any
    key: bytes | str | None = None
    meta: Mapping[str, Any] = field(default_factory=dict)
    route: str = DEFAULT_ROUTE

    @classmethod
    def wrap(cls, payload: Any, *, key: bytes | str | None = None,
             meta: Mapping[str, Any] | None = None) -> Item:
        """Wrap a raw payload; an ``Item`` passed in is returned unchanged."""
        if isinstance(payload, Item):
            return payload
        return cls(id=next_id(), payload=payload, key=key, meta=dict(meta or {}))

    @classmethod
    def wrap_many(cls, payloads: Iterable[Any]) -> list[Item]:
        """Wrap payloads with consecutive ids, keeping items that are already wrapped."""
        values = list(payloads)
        ids = _take_ids(len(values)) if values else range(0)
        return [
            value if isinstance(value, Item) else cls(id=item_id, payload=value)
            for item_id, value in zip(ids, values, strict=True)
        ]

    def update_payload(self, payload: Any) -> Item:
        """Same item with a new payload; id, key, meta and route are kept.

        Built directly rather than with ``dataclasses.replace`` (which inspects the
        fields on every call): this runs once per record in every local stage."""
        return Item(self.id, payload, self.key, self.meta, self.route)

    def put_meta(self, meta: Mapping[str, Any] | None = None, /, **entries: Any) -> Item:
        """Same item with ``meta`` merged in (later keys win)."""
        merged = dict(self.meta)
        if meta:
            merged.update(meta)
        merged.update(entries)
        return Item(self.id, self.payload, self.key, merged, self.route)

    def with_route(self, route: str) -> Item:
        """Same item tagged for the named output."""
        return Item(self.id, self.payload, self.key, self.meta, route)
