"""Serde benchmark: slither-stream's serdes next to the libraries they wrap.

Run: ``.venv/bin/python bench/serde_throughput.py [--records N] [--rounds R]
[--registry URL] [--out FILE]``

For one ``slither.examples.Transaction`` record (the scoring topology's input) it
prints records/s for encode and decode of:

- ``JsonSerde`` beside raw ``orjson.dumps``/``loads`` and the stdlib ``json``;
- ``AvroSerde`` (framed and bare; encode with and without validation) beside raw
  fastavro ``schemaless_writer``/``schemaless_reader`` on the same parsed schema and
  the official Apache ``avro`` package;
- the registry-backed ``RegistryAvroSerde`` beside the local-schema ``AvroSerde`` on
  the cache-hit path (the schema id looked up once, the writer schema fetched once),
  and confluent-kafka's stock ``AvroSerializer``/``AvroDeserializer`` on the same
  registry. The registry is ``--registry URL``, else an Apicurio Registry started for
  the run (``docker/registry-local``). The goal -- registry-backed within 10% of local
  -- is printed with the ratios, and the figures are written as JSON
  (``--out``, default ``bench/results/serde-<timestamp>.json``).

Every contender runs once per round, interleaved, and the best round is kept, so
load from other processes on the machine hits all columns alike. Compare columns
within one run, not across machines.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import avro.io
import avro.schema
import orjson
from fastavro import schemaless_reader, schemaless_writer

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from slither_stream.serde import (  # noqa: E402
    AvroSerde,
    JsonSerde,
    RegistryAvroSerde,
    RegistryClient,
    RegistryConfig,
    SchemaRegistry,
)

REGISTRY_GOAL = 0.90
"""Registry-backed Avro must run at >= 90% of the local-schema serde's rate."""

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


@contextlib.contextmanager
def a_registry(url: str | None) -> Iterator[tuple[str, str]]:
    """``(url, what it is)``: the given registry, or Apicurio started for the run."""
    if url:
        yield url, "given with --registry"
        return
    with tempfile.TemporaryDirectory(prefix="bench-registry-") as data:
        script = ROOT / "docker" / "registry-local"
        started = subprocess.run([sys.executable, str(script), "start", "--data", data,
                                  "--owner-pid", str(os.getpid())],
                                 capture_output=True, text=True, check=False)
        if started.returncode != 0:
            raise SystemExit(f"cannot start the registry: {started.stderr}")
        try:
            yield started.stdout.strip().splitlines()[-1], "Apicurio Registry " + (
                os.environ.get("SLITHER_REGISTRY_VERSION") or "3.3.3") + " (docker/registry-local)"
        finally:
            subprocess.run([sys.executable, str(script), "stop", "--data", data],
                           capture_output=True, check=False)


def registry_rates(url: str, schema: Any, n: int, rounds: int) -> dict[str, dict[str, float]]:
    """Encode and decode rates: local AvroSerde, RegistryAvroSerde, stock Confluent."""
    from confluent_kafka.schema_registry import topic_subject_name_strategy
    from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
    from confluent_kafka.serialization import MessageField, SerializationContext

    client = RegistryClient(RegistryConfig(url=url, auto_register=True))
    topic = f"bench-serde-{time.time_ns()}"
    local = AvroSerde(schema)
    registry = RegistryAvroSerde(schema, client, topic=topic)
    registry.prepare_write()  # the id: looked up once, then every call is a cache hit
    context = SerializationContext(topic, MessageField.VALUE)
    stock_out = AvroSerializer(client.confluent, json.dumps(schema.raw), conf={
        "auto.register.schemas": False, "subject.name.strategy": topic_subject_name_strategy})
    stock_in = AvroDeserializer(client.confluent, json.dumps(schema.raw), conf={
        "subject.name.strategy": topic_subject_name_strategy})
    local_bytes, registry_bytes = local.encode(TXN), registry.encode(TXN)
    assert registry.decode(registry_bytes) == stock_in(registry_bytes, context) == TXN
    assert stock_out(TXN, context) == registry_bytes
    encode = best_rate({
        "local AvroSerde": lambda: local.encode(TXN),
        "RegistryAvroSerde": lambda: registry.encode(TXN),
        "stock AvroSerializer": lambda: stock_out(TXN, context),
    }, n, rounds)
    decode = best_rate({
        "local AvroSerde": lambda: local.decode(local_bytes),
        "RegistryAvroSerde": lambda: registry.decode(registry_bytes),
        "stock AvroDeserializer": lambda: stock_in(registry_bytes, context),
    }, n, rounds)
    client.delete_subject(f"{topic}-value")
    return {"avro encode (registry)": encode, "avro decode (registry)": decode}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--registry", metavar="URL", default=None,
                        help="Confluent-compatible registry (default: start Apicurio)")
    parser.add_argument("--out", type=Path, default=None,
                        help="results JSON (default bench/results/serde-<timestamp>.json)")
    parser.add_argument("--registry-only", action="store_true",
                        help="only the registry-backed comparison")
    args = parser.parse_args()
    n, rounds = args.records, args.rounds
    results: dict[str, dict[str, float]] = {}
    schema = SchemaRegistry.load(ROOT / "schemas").get("slither.examples.Transaction")
    with a_registry(args.registry) as (url, registry_kind):
        for title, rates in registry_rates(url, schema, n, rounds).items():
            show(title, rates)
            results[title] = rates
    ratios = {op: results[f"avro {op} (registry)"]["RegistryAvroSerde"]
              / results[f"avro {op} (registry)"]["local AvroSerde"]
              for op in ("encode", "decode")}
    met = all(ratio >= REGISTRY_GOAL for ratio in ratios.values())
    print(f"registry-backed / local-schema Avro: encode {ratios['encode']:.3f}, "
          f"decode {ratios['decode']:.3f} (goal >= {REGISTRY_GOAL}: "
          f"{'met' if met else 'MISSED'})")
    if not args.registry_only:
        results.update(local_rates(schema, n, rounds))
    out = args.out or ROOT / "bench" / "results" / (
        "serde-" + time.strftime("%Y%m%dT%H%M%S", time.gmtime()) + ".json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({
        "bench": "serde_throughput", "record": "slither.examples.Transaction",
        "commit": _commit(), "records": n, "rounds": rounds, "registry": registry_kind,
        "cpus": os.cpu_count(), "load_average": os.getloadavg(),
        "rates_per_second": results, "registry_vs_local": ratios,
        "goal": f"registry-backed >= {REGISTRY_GOAL} x local-schema", "goal_met": met,
    }, indent=2) + "\n")
    print(f"results: {out}")


def _commit() -> str:
    found = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                           capture_output=True, text=True, check=False)
    return found.stdout.strip() or "unknown"


def local_rates(schema: Any, n: int, rounds: int) -> dict[str, dict[str, float]]:
    """The JSON and local-schema Avro serdes beside the libraries they wrap."""
    results: dict[str, dict[str, float]] = {}

    json_serde = JsonSerde()
    json_bytes = json_serde.encode(TXN)
    results["json encode"] = best_rate({
        "slither": lambda: json_serde.encode(TXN),
        "orjson": lambda: orjson.dumps(TXN),
        "stdlib json": lambda: json.dumps(TXN).encode(),
    }, n, rounds)
    show("json encode", results["json encode"])
    results["json decode"] = best_rate({
        "slither": lambda: json_serde.decode(json_bytes),
        "orjson": lambda: orjson.loads(json_bytes),
        "stdlib json": lambda: json.loads(json_bytes),
    }, n, rounds)
    show("json decode", results["json decode"])

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
    results["avro encode"] = best_rate({
        "slither framed": lambda: framed.encode(TXN),
        "slither bare": lambda: bare.encode(TXN),
        "slither unvalidated": lambda: unchecked.encode(TXN),
        "fastavro": fastavro_encode,
        "apache avro": apache_encode,
    }, n, rounds)
    show("avro encode", results["avro encode"])
    results["avro decode"] = best_rate({
        "slither framed": lambda: framed.decode(framed_bytes),
        "slither bare": lambda: bare.decode(body),
        "fastavro": lambda: schemaless_reader(io.BytesIO(body), parsed, None),
        "apache avro": lambda: apache_reader.read(avro.io.BinaryDecoder(io.BytesIO(body))),
    }, n, rounds)
    show("avro decode", results["avro decode"])
    return results


if __name__ == "__main__":
    main()
