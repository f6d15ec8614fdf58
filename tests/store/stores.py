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


class BlockingStamped(Stamped):
    """A Stamped store whose ``load`` can stop half-way and wait on stdin.

    Used by the crash test: the child process prints ``loading`` once the new
    generation is half built and then waits for a line that never comes (the parent
    SIGKILLs it).
    """

    block = False

    def load(self, tables: Mapping[str, Any]) -> None:
        super().load(tables)
        if self.block:
            import sys

            print("loading", flush=True)
            sys.stdin.readline()


class Partitioned(Store):
    """One table whose changelog has three partitions (per-partition checkpoints)."""

    name = "partitioned"

    def tables(self) -> Sequence[TableSpec]:
        return [TableSpec("p", partitions=3)]
