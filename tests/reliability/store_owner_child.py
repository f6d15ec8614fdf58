"""A store owner that writes until it kills itself mid-write (SIGKILL).

``python -m tests.reliability.store_owner_child MODE LOG_URL APP DATA_DIR SIZE KILL_AT``

``MODE`` is ``bulk`` (``bulk_insert`` all keys stamped 2, 3, ...) or ``reload``
(``reload("load")`` with version 2, 3, ...). A named watcher thread follows the
store's own changelog and SIGKILLs this process as soon as a record stamped
``KILL_AT`` appears, so the kill lands while that write is being published to the
changelog. Prints ``ready`` once version 1 is live and ``done V`` after each write.
"""

from __future__ import annotations

import os
import signal
import sys
import threading

import orjson

from slither_stream.log import Log
from slither_stream.store import StoreApp, changelog_topic
from tests.reliability.stores import STORE, TABLE, Ledger, stamped


def watch_and_kill(log: Log, topic: str, kill_at: int, ready: threading.Event) -> None:
    consumer = log.consumer(f"kill-watch-{os.getpid()}")
    partitions = log.partitions_of(topic)
    consumer.assign(list(log.end_offsets(partitions).items()))
    ready.set()
    while True:
        for record in consumer.poll_batch(1000, 0.05):
            if record.value and orjson.loads(record.value)["version"] == kill_at:
                os.kill(os.getpid(), signal.SIGKILL)


def main() -> None:
    mode, log_url, app_name, data_dir, size_text, kill_text = sys.argv[1:7]
    size, kill_at = int(size_text), int(kill_text)
    store = Ledger(size=size, version=1)
    with StoreApp([store], log=log_url, app=app_name, data_dir=data_dir) as app:
        table = app[STORE].table(TABLE)
        if table.size() == 0:
            table.bulk_insert(stamped(size, 1))
        watching = threading.Event()
        threading.Thread(target=watch_and_kill, name="kill-watch", daemon=True,
                         args=(app.log, changelog_topic(app_name, STORE, TABLE), kill_at,
                               watching)).start()
        watching.wait()
        print("ready", flush=True)
        for version in range(2, kill_at + 1):
            if mode == "bulk":
                table.bulk_insert(stamped(size, version))
            else:
                store.version = version
                store.reload("load")
            print(f"done {version}", flush=True)
        print("not killed", flush=True)


if __name__ == "__main__":
    main()
