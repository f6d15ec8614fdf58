"""Child process for the crash test: owns a store, then dies half-way through a reload.

``python -m tests.store.child_writer LOG_URL APP DATA_DIR``: prints ``ready`` after
the first generation (version 1) is live, then reloads with version 2 and blocks in
``load`` after printing ``loading``.
"""

from __future__ import annotations

import sys

from slither_stream.store import StoreApp
from tests.store.stores import BlockingStamped


def main() -> None:
    log_url, app_name, data_dir = sys.argv[1:4]
    store = BlockingStamped(version=1)
    with StoreApp([store], log=log_url, app=app_name, data_dir=data_dir) as _:
        print("ready", flush=True)
        sys.stdin.readline()
        store.version = 2
        store.block = True
        store.reload("load")
        print("reloaded", flush=True)  # never reached: the parent kills us first


if __name__ == "__main__":
    main()
