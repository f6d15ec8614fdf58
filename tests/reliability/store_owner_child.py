"""A store owner that dies (SIGKILL) in the middle of publishing one write.

``python -m tests.reliability.store_owner_child MODE LOG_URL APP DATA_DIR SIZE KILL_AT``

``MODE`` is ``bulk`` (``bulk_insert`` all keys stamped 2, 3, ...) or ``reload``
(``reload("load")`` with version 2, 3, ...). A write reaches the changelog through
``StoreOwner.publish`` as a stream of chunks; for the ``KILL_AT`` write this child
wraps ``publish`` (a failpoint, in this test child only) so the process SIGKILLs
itself when the second chunk is asked for, after the first chunk was produced
(or, for a single-chunk write, before the commit): the crash window inside one
write, hit deterministically. Prints ``ready`` once version 1 is live and
``done V`` after each write.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Iterable, Iterator
from typing import Any

from slither_stream.store import StoreApp
from slither_stream.store.owner import StoreOwner
from tests.reliability.stores import STORE, TABLE, Ledger, stamped

Batch = tuple[str, list[tuple[bytes, bytes | None]]]
_armed = threading.Event()
_publish = StoreOwner.publish


def _dying(batches: Iterable[Batch]) -> Iterator[Batch]:
    for index, batch in enumerate(batches):
        if index == 1:
            os.kill(os.getpid(), signal.SIGKILL)
        yield batch
    os.kill(os.getpid(), signal.SIGKILL)


def _publish_with_failpoint(self: StoreOwner, batches: Iterable[Batch]) -> Any:
    return _publish(self, _dying(batches) if _armed.is_set() else batches)


def main() -> None:
    mode, log_url, app_name, data_dir, size_text, kill_text = sys.argv[1:7]
    size, kill_at = int(size_text), int(kill_text)
    store = Ledger(size=size, version=1)
    StoreOwner.publish = _publish_with_failpoint  # type: ignore[method-assign]
    with StoreApp([store], log=log_url, app=app_name, data_dir=data_dir) as app:
        table = app[STORE].table(TABLE)
        if table.size() == 0:
            table.bulk_insert(stamped(size, 1))
        print("ready", flush=True)
        for version in range(2, kill_at + 1):
            if version == kill_at:
                _armed.set()
            if mode == "bulk":
                table.bulk_insert(stamped(size, version))
            else:
                store.version = version
                store.reload("load")
            print(f"done {version}", flush=True)
        print("not killed", flush=True)


if __name__ == "__main__":
    main()
