"""The records and per-record functions every system applies, identically.

Imported by the harness (project venv) and by each system's script (its own venv),
so nothing here may depend on slither-stream or a peer library.
"""

from __future__ import annotations

import random
from typing import Any

ROUTES = ("a", "b", "c")
"""Router fan-out outputs: record ``n`` goes to ``ROUTES[n % 3]``."""

_WORDS = ("alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel")


def record(n: int, now_ms: int) -> dict[str, Any]:
    """Record ``n`` of the input stream: a ~200-byte JSON object once encoded."""
    rng = random.Random(n)
    return {
        "n": n,
        "user": f"user-{n % 100_000:06d}",
        "amount": round(rng.random() * 1000, 2),
        "currency": "EUR",
        "ts": now_ms,
        "tags": [rng.choice(_WORDS) for _ in range(3)],
        "note": "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(64)),
    }


def key_of(n: int) -> bytes:
    """The record key (spreads records over partitions; a lookup table key too)."""
    return f"user-{n % 100_000:06d}".encode()


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
