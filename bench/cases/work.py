"""The records and per-record functions every system applies, identically.

Imported by the harness (project venv) and by each system's script (its own venv),
so nothing here may depend on slither-stream or a peer library.
"""

from __future__ import annotations

import random
import zlib
from typing import Any

ROUTES = ("a", "b", "c")
"""Router fan-out outputs: record ``n`` goes to ``ROUTES[n % 3]``."""

_WORDS = ("alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel")
_POOL = 4096
"""Distinct notes and tag lists, drawn once from a seeded generator: seeding a
``random.Random`` per record cost ~70 µs, which made preparing 1,000,000 input
records take over a minute per run."""


def _pools() -> tuple[list[str], list[list[str]]]:
    rng = random.Random(7)
    notes = ["".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(64))
             for _ in range(_POOL)]
    tags = [[rng.choice(_WORDS) for _ in range(3)] for _ in range(_POOL)]
    return notes, tags


_NOTES, _TAGS = _pools()


def record(n: int, now_ms: int) -> dict[str, Any]:
    """Record ``n`` of the input stream: a ~200-byte JSON object once encoded
    (deterministic in ``n``; Knuth's multiplicative hash spreads the fields)."""
    mixed = (n * 2654435761) % 2**32
    return {
        "n": n,
        "user": f"user-{n % 100_000:06d}",
        "amount": (mixed % 100_000) / 100,
        "currency": "EUR",
        "ts": now_ms,
        "tags": _TAGS[mixed % _POOL],
        "note": _NOTES[(mixed >> 12) % _POOL],
    }


def key_of(n: int) -> bytes:
    """The record key (spreads records over partitions; a lookup table key too)."""
    return f"user-{n % 100_000:06d}".encode()


def lookup_key(n: int, keys: int) -> bytes:
    """The key of record ``n`` in the lookup case: one of ``keys`` table keys. The
    record is keyed by it, so the stream and the table are co-partitioned."""
    return f"k{n % keys:07d}".encode()


def lookup_partition(n: int, keys: int, partitions: int) -> int:
    """The partition of table key ``lookup_key(n, keys)``, for the stream and the
    table alike (CRC32 of the key, as librdkafka's default partitioner): explicit, so
    the two stay co-partitioned even where a system serializes table keys
    differently (Faust's changelog holds JSON keys)."""
    return zlib.crc32(lookup_key(n, keys)) % partitions


def table_row(i: int) -> dict[str, Any]:
    """Row ``i`` of the lookup table (what a record with key ``lookup_key`` gets)."""
    return {"tier": i % 5, "limit": float(i % 1000) * 10.0, "segment": _WORDS[i % 8]}


def join(payload: dict[str, Any], row: Any) -> dict[str, Any]:
    """The lookup case's enrichment: the record plus its table row (None if absent)."""
    payload["profile"] = row
    return payload


def _aggregate_mix(n: int) -> int:
    return (n * 2654435761) % 2**32


def aggregate_key(n: int, keys: int) -> bytes:
    """The key of record ``n`` in the aggregate case: one of ``keys`` users, drawn by
    a hash of ``n`` (not ``n % keys``), so records of one key meet within a batch as
    they would in real traffic."""
    return f"user-{(_aggregate_mix(n) >> 8) % keys:07d}".encode()


def aggregate_amount(n: int) -> int:
    """Record ``n``'s ``amount`` in the aggregate case: integer cents (0-99,999), so
    every system's sums are exact."""
    return _aggregate_mix(n) % 100_000


def aggregate_record(n: int, now_ms: int, keys: int) -> dict[str, Any]:
    """Record ``n`` of the aggregate case: the usual record, ``user`` its key, integer
    ``amount`` (the same ~190 bytes)."""
    payload = record(n, now_ms)
    payload["user"] = aggregate_key(n, keys).decode()
    payload["amount"] = aggregate_amount(n)
    return payload


def aggregate_step(total: dict[str, int] | None, payload: dict[str, Any]) -> dict[str, int]:
    """The aggregate case's update: the key's running ``{"count", "sum"}`` of
    ``amount`` after ``payload`` (``total`` None: the key's first record). A new dict:
    the previous total may still be referenced (an output, a state buffer)."""
    if total is None:
        return {"count": 1, "sum": payload["amount"]}
    return {"count": total["count"] + 1, "sum": total["sum"] + payload["amount"]}


def enrich(payload: dict[str, Any]) -> dict[str, Any]:
    """The passthrough case's trivial function: add one field."""
    payload["seen"] = 1
    return payload


def route_of(payload: dict[str, Any]) -> str:
    """The router case's choice of output for ``payload``."""
    return ROUTES[int(payload["n"]) % 3]


def is_route(name: str) -> Any:
    """A predicate true for payloads routed to ``name`` (for routers with predicates)."""

    def predicate(payload: Any) -> bool:
        body = payload.payload if hasattr(payload, "payload") else payload
        return route_of(body) == name

    predicate.__name__ = f"is_{name}"
    return predicate
