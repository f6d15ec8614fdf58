"""Read a task store's committed state from another process, without its lock.

``slither state get`` on the embedded log with no worker running reads the local
state directory directly: RocksDB's read-only mode opens an instance without taking
its lock and sees what was committed when it opened (a worker still running is asked
over HTTP instead). Nothing is written, so a worker starting meanwhile is not
disturbed.
"""

from __future__ import annotations

from pathlib import Path

from rocksdict import AccessType, Options, Rdict

from slither_stream.errors import StoreError
from slither_stream.store.partitioned.task_store import META_CF, STATE_CF, TaskReads


class ReadOnlyTaskStore(TaskReads):
    """The instance at ``path``, opened read-only; use as a context manager."""

    def __init__(self, path: Path) -> None:
        if not (path / "CURRENT").is_file():
            raise StoreError(f"no state store instance at {path}")
        families = {STATE_CF: Options(raw_mode=True), META_CF: Options(raw_mode=True)}
        try:
            self._db = Rdict(str(path), Options(raw_mode=True), column_families=families,
                             access_type=AccessType.read_only())
        except Exception as error:
            raise StoreError(f"cannot open state store instance {path} read-only: "
                             f"{error}") from error
        self._state = self._db.get_column_family(STATE_CF)
        self._meta = self._db.get_column_family(META_CF)

    def close(self) -> None:
        for handle in (self._state, self._meta, self._db):
            handle.close()

    def __enter__(self) -> ReadOnlyTaskStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
