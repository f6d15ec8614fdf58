"""A store reader that checks, as fast as it can, that every generation it reads
holds one version stamp.

``python -m tests.reliability.store_reader_child APP DATA_DIR``. A named thread
loops: catch up, read every key in one ``get_many``, record the distinct versions.
Commands on stdin, one JSON answer each: ``check`` (one synchronous check now),
``report`` (checks so far, mixed observations), ``quit``.
"""

from __future__ import annotations

import json
import sys
import threading
from typing import Any

from slither_stream.store import StoreReader
from tests.reliability.stores import STORE, TABLE


class Checker:
    def __init__(self, reader: StoreReader) -> None:
        self.reader = reader
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.checks = 0
        self.mixed: list[dict[str, Any]] = []
        self.generations: set[int] = set()

    def check(self) -> dict[str, Any]:
        with self.lock:
            generation = self.reader.catch_up()
            table = self.reader.table(TABLE)
            keys = list(table.keys())
            versions = sorted({value["version"] for value in table.get_many(keys)})
            self.checks += 1
            self.generations.add(generation)
            answer = {"generation": generation, "count": len(keys), "versions": versions}
            if len(versions) > 1:
                self.mixed.append(answer)
            return answer

    def loop(self) -> None:
        while not self.stop.is_set():
            self.check()


def main() -> None:
    app_name, data_dir = sys.argv[1:3]
    with StoreReader(STORE, app=app_name, data_dir=data_dir, catch_up_interval=None) as reader:
        checker = Checker(reader)
        thread = threading.Thread(target=checker.loop, name="store-checker")
        thread.start()
        try:
            print(json.dumps({"ready": True}), flush=True)
            for line in sys.stdin:
                command = line.strip()
                if command == "check":
                    answer: Any = checker.check()
                elif command == "report":
                    answer = {"checks": checker.checks, "mixed": checker.mixed[:5],
                              "mixed_count": len(checker.mixed),
                              "generations": sorted(checker.generations)}
                elif command == "quit":
                    break
                else:
                    answer = {"error": f"unknown command {command!r}"}
                print(json.dumps(answer), flush=True)
        finally:
            checker.stop.set()
            thread.join()


if __name__ == "__main__":
    main()
