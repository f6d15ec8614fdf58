"""The batched-compute case's model: NumPy work costing ~1 ms per call plus ~10 µs
per item, like a small neural model served from Python.

The fixed cost is a chain of matrix products on a constant 128x128 matrix (what a
model pays per call whatever the batch: weights, layers, dispatch); the per-item cost
is a feature row pushed through a 256-wide layer several times. Sizes are fixed, not
calibrated at run time, so every system runs the same arithmetic; the harness prints
the measured per-call and per-item costs on this machine (``calibrate``).
Set ``OPENBLAS_NUM_THREADS=1`` (the harness does) so BLAS does not spread one call
over both cores behind the systems' backs.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

_RNG = np.random.default_rng(7)
_BASE = _RNG.standard_normal((128, 128)).astype(np.float32) / 12.0
_LAYER = _RNG.standard_normal((256, 256)).astype(np.float32) / 16.0
BASE_ROUNDS = 4
"""Fixed-cost matrix products per call (tuned for ~1 ms on a 2-core VM)."""
ITEM_ROUNDS = 2
"""Per-item layer passes (tuned for ~10 µs per item)."""


def _features(payload: dict[str, Any]) -> np.ndarray:
    row = np.empty(256, dtype=np.float32)
    row.fill(float(payload.get("amount", 0.0)) / 1000.0)
    row[0] = float(payload.get("n", 0) % 97) / 97.0
    return row


def predict_batch(payloads: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Score every payload; returns the payloads with a ``score`` field, same order."""
    state = _BASE
    for _ in range(BASE_ROUNDS):
        state = np.tanh(state @ _BASE)
    bias = float(state[0, 0])
    x = np.stack([_features(p) for p in payloads]) if payloads else np.zeros((0, 256))
    for _ in range(ITEM_ROUNDS):
        x = np.tanh(x @ _LAYER)
    scores = x.mean(axis=1) + bias
    out = []
    for payload, score in zip(payloads, scores.tolist(), strict=True):
        payload["score"] = score
        out.append(payload)
    return out


def predict_one(payload: dict[str, Any]) -> dict[str, Any]:
    """The per-record call the peers make (their natural style)."""
    return predict_batch([payload])[0]


def calibrate(repeat: int = 200) -> dict[str, float]:
    """Measured cost on this machine: ms per call of 1 item and µs per extra item."""
    sample = [{"n": i, "amount": float(i)} for i in range(64)]
    predict_batch(sample[:1])
    started = time.perf_counter()
    for _ in range(repeat):
        predict_batch(sample[:1])
    single = (time.perf_counter() - started) / repeat
    started = time.perf_counter()
    for _ in range(repeat):
        predict_batch(sample)
    batch = (time.perf_counter() - started) / repeat
    per_item = (batch - single) / 63
    return {"call_ms": (single - per_item) * 1e3, "item_us": per_item * 1e6,
            "batch64_ms": batch * 1e3}


SLOW_BATCH_S = 0.05
"""Extra time per batch of the backlog case's deliberately slow compute stage."""


def slow_predict_batch(payloads: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``predict_batch`` plus 50 ms per call: a stage far slower than its input, so
    a backlog builds up in front of it (the memory case)."""
    time.sleep(SLOW_BATCH_S)  # the simulated slow model, not a wait for anything
    return predict_batch(payloads)
