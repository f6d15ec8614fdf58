"""Store size telemetry: keys and bytes on disk per table, after writes and reloads.

Each table is a RocksDB column family of the live generation; its size comes from
two RocksDB properties, read from RocksDB's own bookkeeping without touching the data:

* keys: ``rocksdb.estimate-num-keys``, which counts every stored value entry
  and subtracts every tombstone until compaction drops them. Exact for keys
  written once (a bulk load of distinct keys); otherwise within
  ``[live - deletes, live + overwrites]`` (counting the deletes and overwrites
  compaction has not yet merged away), and never below 0.
* bytes: ``rocksdb.total-sst-files-size``, the table's SST files on disk. Writes
  still in the memtable (and its write-ahead log) count once they are flushed.

The owner reports after its start (restore done) and after each reload swap, and
calls :meth:`SizeReporter.changed` after writes; those are throttled to one
report per ``interval``, with a trailing report ``interval`` after a burst so the
last write is always reflected. Reads never report. Nothing is measured unless a
handler listens to ``slither.store.size`` (the metrics registry does).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from rocksdict import Rdict

from slither_stream import telemetry
from slither_stream.errors import StoreError
from slither_stream.store.generations import Generation

STORE_SIZE: telemetry.Event = ("slither", "store", "size")
"""The event ``observability.metrics`` turns into the store size gauges (declared
here too, like the restore progress event, so the store does not import the
observability package)."""

SIZE_INTERVAL = 1.0
"""Seconds between size reports while writes keep coming."""

KEYS_PROPERTY = "rocksdb.estimate-num-keys"
BYTES_PROPERTY = "rocksdb.total-sst-files-size"

Schedule = Callable[[float, Callable[[], float | None]], None]
"""``schedule(delay, action)``: run ``action`` on the owner's upkeep thread later."""


@dataclass(frozen=True)
class TableSize:
    """One table's size: ``keys`` (RocksDB estimate) and SST ``bytes`` on disk."""

    keys: int
    bytes: int


def measure(generation: Generation) -> dict[str, TableSize]:
    """The size of every table of ``generation``; StoreError if it is closing."""
    with generation.pin():
        return {name: TableSize(_property(column, KEYS_PROPERTY),
                                _property(column, BYTES_PROPERTY))
                for name, column in generation.tables.items()}


def _property(column: Rdict, name: str) -> int:
    value = column.property_int_value(name)
    return max(0, int(value)) if value is not None else 0


class SizeReporter:
    """Emits ``slither.store.size`` per table of one store (see the module doc)."""

    def __init__(self, store: str, live: Callable[[], Generation | None],
                 schedule: Schedule, *, interval: float = SIZE_INTERVAL) -> None:
        if isinstance(interval, bool) or not isinstance(interval, int | float) \
                or not math.isfinite(interval) or interval < 0:
            raise StoreError(f"store {store!r}: size interval must be a non-negative "
                             f"number of seconds, got {interval!r}")
        self._store = store
        self._live = live
        self._schedule = schedule
        self._interval = float(interval)
        self._state = threading.Lock()  # guards _last and _trailing
        self._last = -math.inf
        self._trailing = False
        self._reporting = threading.Lock()  # one report at a time, in order

    def changed(self) -> None:
        """Tables were written: report now, or once the interval has passed."""
        if not telemetry.has_handlers(STORE_SIZE):
            return
        with self._state:
            now = time.monotonic()
            wait = self._last + self._interval - now
            if wait > 0:
                if self._trailing:
                    return
                self._trailing = True
            else:
                self._last = now
        if wait > 0:
            try:
                self._schedule(wait, self._report_trailing)
            except StoreError:  # the owner is closing: nobody will scrape this store
                with self._state:
                    self._trailing = False
            return
        self.report()

    def _report_trailing(self) -> None:
        with self._state:
            self._trailing = False
            self._last = time.monotonic()
        self.report()

    def report(self) -> None:
        """Measure the live generation's tables and emit their sizes now."""
        if not telemetry.has_handlers(STORE_SIZE):
            return
        with self._reporting:
            generation = self._live()
            if generation is None:
                return
            try:
                sizes = measure(generation)
            except StoreError:
                return  # retired meanwhile: the successor's swap reports
            for table, size in sizes.items():
                telemetry.execute(STORE_SIZE, {"size": size.keys, "bytes": size.bytes},
                                  {"store": self._store, "table": table})
