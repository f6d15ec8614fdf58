"""StoreReader: read a store owned by another process on the same host.

The reader opens the live generation as a RocksDB *secondary* instance — it reads the
owner's files in place (no copy) and replays the owner's write-ahead log on
:meth:`StoreReader.catch_up`, which runs on demand and, if ``catch_up_interval`` is
set, on a named background thread the reader owns. Catching up also follows the
generation pointer: after a reload the reader opens the new generation, switches its
reference atomically and closes the old one, so every read call answers from one
generation only.

While a generation is open the reader holds a shared flock on its ``.readers`` file,
which stops the owner from deleting it.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Self

from slither_stream.errors import ConfigError, StoreError
from slither_stream.store import generations as gens
from slither_stream.store.behaviour import Store
from slither_stream.store.generations import Generation
from slither_stream.store.owner import MANIFEST
from slither_stream.store.retirement import Retirer
from slither_stream.store.spec import TableSpec, check_name
from slither_stream.store.table import TableReader, table_named

_log = logging.getLogger(__name__)

_OPEN_ATTEMPTS = 20
_RETRY_CLOSE = 0.05


class StoreReader:
    """Read-only access to a store from any process on the host.

    ``store`` is a Store instance, a Store class (instantiated without arguments) —
    its ``tables()`` give the serdes — or a store name, in which case the table
    shapes come from the owner's ``tables.json`` (tables with a custom serde object
    need ``tables=`` then). ``catch_up_interval``: seconds between automatic
    catch-ups on a named background thread (None: only :meth:`catch_up`).
    ``grace_period``: how long a generation left behind by a swap stays open for
    calls that started on it.
    """

    def __init__(
        self,
        store: str | Store | type[Store],
        *,
        app: str,
        data_dir: str | Path,
        tables: Sequence[TableSpec] | None = None,
        catch_up_interval: float | None = 1.0,
        grace_period: float = 1.0,
        block_cache_mb: int = gens.DEFAULT_BLOCK_CACHE_MB,
    ) -> None:
        if isinstance(store, str):
            self.name = check_name("store", store)
        else:
            self.name = store.store_name()
            if tables is None:
                instance = store() if isinstance(store, type) else store
                tables = list(instance.tables())
        self.store_dir = Path(data_dir) / check_name("app", app) / self.name
        specs = list(tables) if tables is not None else self._manifest_specs()
        self.specs = {spec.name: spec for spec in specs}
        self._tables = {name: TableReader(self, self.name, spec)
                        for name, spec in self.specs.items()}
        self.grace_period = grace_period
        self.block_cache_mb = block_cache_mb
        self._lock = threading.Lock()
        self._retiring: dict[Generation, int] = {}
        self._retirer = Retirer(f"slither-store-reader-{self.name}-retire")
        self._current, self._held = self._open_live()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if catch_up_interval is not None:
            if catch_up_interval <= 0:
                raise ConfigError(f"catch_up_interval must be > 0, not {catch_up_interval}")
            self._thread = threading.Thread(
                target=self._follow, args=(catch_up_interval,),
                name=f"slither-store-reader-{self.name}", daemon=True,
            )
            self._thread.start()

    def _manifest_specs(self) -> list[TableSpec]:
        path = self.store_dir / MANIFEST
        try:
            manifest = json.loads(path.read_text())
        except FileNotFoundError:
            raise StoreError(
                f"store {self.name!r} has never been started at {self.store_dir} "
                f"(no {MANIFEST}); start its owner first"
            ) from None
        specs = []
        for entry in manifest["tables"]:
            if entry["value"] is None:
                raise StoreError(
                    f"table {self.name}.{entry['name']} uses a custom value serde; "
                    "pass tables= (or the Store class) to StoreReader"
                )
            specs.append(TableSpec(entry["name"], type=entry["type"], key=entry["key"],
                                   value=entry["value"], compression=entry["compression"],
                                   partitions=entry["partitions"]))
        return specs

    def _open_live(self) -> tuple[Generation, int]:
        """Open the generation the pointer names, holding it against deletion."""
        for _ in range(_OPEN_ATTEMPTS):
            number = gens.read_pointer(self.store_dir)
            if number is None:
                raise StoreError(
                    f"store {self.name!r} has no live generation at {self.store_dir}; "
                    "start its owner first"
                )
            held = gens.hold_for_reading(self.store_dir, number)
            if held is None:
                continue  # swapped and being deleted meanwhile: read the pointer again
            try:
                return Generation(self.store_dir, number, list(self.specs.values()),
                                  secondary=True, block_cache_mb=self.block_cache_mb), held
            except BaseException:
                os.close(held)
                raise
        raise StoreError(f"could not open a live generation of {self.store_dir} after "
                         f"{_OPEN_ATTEMPTS} attempts: it keeps changing")

    # -- reading -------------------------------------------------------------------

    @property
    def current(self) -> Generation:
        generation = self._current
        if generation.closed and self._stop.is_set():
            raise StoreError(f"StoreReader for {self.name!r} is closed")
        return generation

    @property
    def generation(self) -> int:
        """Number of the generation being read."""
        return self._current.number

    def table(self, name: str) -> TableReader:
        return table_named(self._tables, self.name, name)

    def __getitem__(self, name: str) -> TableReader:
        return self.table(name)

    def catch_up(self) -> int:
        """See the owner's latest writes and follow a generation swap; returns the
        generation now being read."""
        with self._lock:
            if self._stop.is_set():
                raise StoreError(f"StoreReader for {self.name!r} is closed")
            live = gens.read_pointer(self.store_dir)
            if live is not None and live != self._current.number:
                old, old_held = self._current, self._held
                self._current, self._held = self._open_live()
                self._retire(old, old_held)
            else:
                self._current.db.try_catch_up_with_primary()
            return self._current.number

    def _retire(self, generation: Generation, held: int) -> None:
        """Close ``generation`` once calls that started on it are done, then release
        its flock so the owner may delete it."""
        self._retiring[generation] = held

        def retire() -> float | None:
            if not generation.try_close():
                return _RETRY_CLOSE
            os.close(self._retiring.pop(generation))
            return None

        self._retirer.schedule(self.grace_period, retire)

    def _follow(self, interval: float) -> None:
        while not self._stop.wait(interval):
            try:
                self.catch_up()
            except Exception:
                if self._stop.is_set():
                    return
                # Keep serving the generation already open; try again next interval.
                _log.exception("StoreReader %s: catch-up failed", self.name)

    def close(self) -> None:
        """Stop following, close the generation and release its flock. Idempotent."""
        with self._lock:
            if self._stop.is_set():
                return
            self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self._retirer.close()
        with self._lock:
            for generation, held in list(self._retiring.items()):
                generation.close()
                os.close(held)
            self._retiring.clear()
            self._current.close()
            os.close(self._held)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<StoreReader {self.name} generation={self._current.number}>"

