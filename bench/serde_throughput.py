"""Serde benchmark: slither-stream's serdes next to the libraries they wrap.

Run: ``.venv/bin/python bench/serde_throughput.py [--records N] [--rounds R]``

For one ``slither.examples.Transaction`` record (the scoring topology's input) it
prints records/s for encode and decode of:

- ``JsonSerde`` beside raw ``orjson.dumps``/``loads`` and the stdlib ``json``;
- ``AvroSerde`` (framed and bare; encode with and without validation) beside raw
  fastavro ``schemaless_writer``/``schemaless_reader`` on the same parsed schema and
  the official Apache ``avro`` package.

Every contender runs once per round, interleaved, and the best round is kept, so
load from other processes on the machine hits all columns alike. Compare columns
within one run, not across machines.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import avro.io
import avro.schema
import orjson
from fastavro import schemaless_reader, schemaless_writer

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from slither_stream.serde import AvroSerde, JsonSerde, SchemaRegistry  # noqa: E402

TXN: dict[str, Any] = {"txn_id": "t-000123", "user_id": "u-42", "amount": 123.45,
                       "hour": 13}


def best_rate(contenders: dict[str, Callable[[], Any]], records: int,
              rounds: int) -> dict[str, float]:
    """Records/s per contender: best of ``rounds`` interleaved timed loops."""
    best = dict.fromkeys(contenders, 0.0)
    for _ in range(rounds):
        for name, call in contenders.items():
            started = time.perf_counter()
            for _ in range(records):
                call()
            elapsed = time.perf_counter() - started
            best[name] = max(best[name], records / elapsed)
    return best


def show(title: str, rates: dict[str, float]) -> None:
    cells = "   ".join(f"{name} {rate:>11,.0f}/s" for name, rate in rates.items())
    print(f"{title:<30} {cells}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    n, rounds = args.records, args.rounds

    json_serde = JsonSerde()
    json_bytes = json_serde.encode(TXN)
    show("json encode", best_rate({
        "slither": lambda: json_serde.encode(TXN),
        "orjson": lambda: orjson.dumps(TXN),
        "stdlib json": lambda: json.dumps(TXN).encode(),
    }, n, rounds))
    show("json decode", best_rate({
        "slither": lambda: json_serde.decode(json_bytes),
        "orjson": lambda: orjson.loads(json_bytes),
        "stdlib json": lambda: json.loads(json_bytes),
    }, n, rounds))

    schema = SchemaRegistry.load(ROOT / "schemas").get("slither.examples.Transaction")
    parsed = schema.parsed
    apache = avro.schema.parse(json.dumps(schema.raw))
    apache_writer = avro.io.DatumWriter(apache)
    apache_reader = avro.io.DatumReader(apache)

    def fastavro_encode() -> bytes:
        buffer = io.BytesIO()
        schemaless_writer(buffer, parsed, TXN)
        return buffer.getvalue()

    def apache_encode() -> bytes:
        buffer = io.BytesIO()
        apache_writer.write(TXN, avro.io.BinaryEncoder(buffer))
        return buffer.getvalue()

    body = fastavro_encode()
    framed = AvroSerde(schema)
    bare = AvroSerde(schema, framing=False)
    unchecked = AvroSerde(schema, validate=False)
    framed_bytes = framed.encode(TXN)
    show("avro encode", best_rate({
        "slither framed": lambda: framed.encode(TXN),
        "slither bare": lambda: bare.encode(TXN),
        "slither unvalidated": lambda: unchecked.encode(TXN),
        "fastavro": fastavro_encode,
        "apache avro": apache_encode,
    }, n, rounds))
    show("avro decode", best_rate({
        "slither framed": lambda: framed.decode(framed_bytes),
        "slither bare": lambda: bare.decode(body),
        "fastavro": lambda: schemaless_reader(io.BytesIO(body), parsed, None),
        "apache avro": lambda: apache_reader.read(avro.io.BinaryDecoder(io.BytesIO(body))),
    }, n, rounds))


if __name__ == "__main__":
    main()
