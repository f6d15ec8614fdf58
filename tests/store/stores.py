"""Store declarations shared by the store tests (importable by child processes)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from slither_stream.store import Store, TableSpec, ViewSpec


class Counters(Store):
    """Two tables: a set of JSON values and an ordered_set."""

    name = "counters"

    def tables(self) -> Sequence[TableSpec]:
        return [TableSpec("plain"), TableSpec("ordered", type="ordered_set")]


class Stamped(Store):
    """``load`` writes ``size`` keys that all carry the same ``version`` stamp."""

    name = "stamped"

    def __init__(self, version: int = 1, size: int = 200, dropped: int = 0) -> None:
        self.version = version
        self.size = size
        self.dropped = dropped

    def tables(self) -> Sequence[TableSpec]:
        return [TableSpec("items", type="ordered_set")]

    def views(self) -> Sequence[ViewSpec]:
        return [
            ViewSpec("item", self.item),
            ViewSpec("items_batch", self.items_batch, mode="batch"),
            ViewSpec("version", lambda: self.version, scope="global"),
        ]

    def load(self, tables: Mapping[str, Any]) -> None:
        tables["items"].bulk_insert(
            (("item", i), {"version": self.version, "i": i})
            for i in range(self.dropped, self.size)
        )

    def item(self, key: Any) -> Any:
        return self.table("items").get(key)

    def items_batch(self, keys: Sequence[Any]) -> list[Any]:
        return self.table("items").get_many(keys)
