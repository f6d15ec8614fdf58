"""Child process that reads a store through a StoreReader, driven over stdin/stdout.

``python -m tests.store.child_reader APP DATA_DIR STORE``; then one command per line,
one JSON answer per line:

- ``catch_up`` -> the generation now read
- ``get KEY_JSON`` / ``get_many KEYS_JSON`` (JSON lists become tuples)
- ``versions TABLE`` -> sorted distinct ``version`` fields of one ``get_many`` over
  every key found by a scan of the table (checks one-generation answers)
"""

from __future__ import annotations

import json
import sys
from typing import Any

from slither_stream.store import StoreReader


def _key(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def main() -> None:
    app_name, data_dir, store = sys.argv[1:4]
    with StoreReader(store, app=app_name, data_dir=data_dir, catch_up_interval=None) as reader:
        print(json.dumps({"generation": reader.generation}), flush=True)
        for line in sys.stdin:
            command, _, argument = line.strip().partition(" ")
            if command == "catch_up":
                answer: Any = reader.catch_up()
            elif command == "get":
                table, _, key = argument.partition(" ")
                answer = reader.table(table).get(_key(json.loads(key)))
            elif command == "versions":
                table_reader = reader.table(argument)
                keys = list(table_reader.keys())
                values = table_reader.get_many(keys)
                answer = {"count": len(values),
                          "versions": sorted({v["version"] for v in values})}
            elif command == "quit":
                return
            else:
                answer = {"error": f"unknown command {command!r}"}
            print(json.dumps(answer), flush=True)


if __name__ == "__main__":
    main()
