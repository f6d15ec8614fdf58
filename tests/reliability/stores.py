"""The store the reliability suite crashes (importable by child processes)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from slither_stream.store import Store, TableSpec

STORE = "ledger"
TABLE = "items"


class Ledger(Store):
    """One table of ``size`` keys; ``load`` stamps every key with ``version``."""

    name = STORE

    def __init__(self, size: int = 1000, version: int = 1) -> None:
        self.size = size
        self.version = version

    def tables(self) -> Sequence[TableSpec]:
        return [TableSpec(TABLE, key="string")]

    def load(self, tables: Mapping[str, Any]) -> None:
        tables[TABLE].bulk_insert(stamped(self.size, self.version))


def stamped(size: int, version: int) -> list[tuple[str, dict[str, int]]]:
    return [(f"k{i:07d}", {"version": version, "i": i}) for i in range(size)]
