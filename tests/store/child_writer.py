"""Child process for the crash test: owns a store, then dies half-way through a reload.

``python -m tests.store.child_writer LOG_URL APP DATA_DIR MODE``: prints ``ready``
after the first generation (version 1) is live, then reloads with version 2 and
blocks: in ``load`` after printing ``loading`` (MODE ``load``), or with every changed
record produced to the changelog transaction but not committed, after printing
``publishing`` (MODE ``publish``).
"""

from __future__ import annotations

import sys

from slither_stream.store import StoreApp
from tests.store.stores import BlockingStamped


def main() -> None:
    log_url, app_name, data_dir, mode = sys.argv[1:5]
    store = BlockingStamped(version=1)
    with StoreApp([store], log=log_url, app=app_name, data_dir=data_dir) as _:
        print("ready", flush=True)
        sys.stdin.readline()
        store.version = 2
        if mode == "load":
            store.block = True
        else:
            # Fault injection: stop right before the changelog transaction commits.
            transactions = store.owner._transactions
            assert transactions is not None

            def commit_never(timeout: float | None = None) -> None:
                print("publishing", flush=True)
                sys.stdin.readline()

            transactions.commit_transaction = commit_never  # type: ignore[method-assign]
        store.reload("load")
        print("reloaded", flush=True)  # never reached: the parent kills us first


if __name__ == "__main__":
    main()
