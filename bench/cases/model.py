"""The batched-compute case's model: NumPy work costing ~1 ms per call plus ~10 µs
per item, like a small neural model served from Python.

The fixed cost is a chain of matrix products on a constant 128x128 matrix (what a
model pays per call whatever the batch: weights, layers, dispatch); the per-item cost
is a feature row pushed through a 256-wide layer several times. How many rounds of
each is chosen once per benchmark run by ``tune`` (in the harness, from a quick
measurement, so the cost lands near 1 ms and 10 µs on the machine of the day) and
handed to every system's process through ``BENCH_MODEL_ROUNDS`` (``"base,item"``), so
every system runs exactly the same arithmetic. Set ``OPENBLAS_NUM_THREADS=1`` (the
harness does) so BLAS does not spread one call over both cores behind the systems'
backs.
"""

from __future__ import annotations

import os
import time
from typing import Any

import numpy as np

_RNG = np.random.default_rng(7)
_BASE = _RNG.standard_normal((128, 128)).astype(np.float32) / 12.0
_LAYER = _RNG.standard_normal((256, 256)).astype(np.float32) / 16.0
ROUNDS_ENV = "BENCH_MODEL_ROUNDS"
"""``"<base>,<item>"``: the rounds the harness tuned, for every system's process."""
TARGET_CALL_MS = 1.0
TARGET_ITEM_US = 10.0


def _rounds_from_env() -> tuple[int, int]:
    text = os.environ.get(ROUNDS_ENV, "")
    if not text:
        return 4, 2
    try:
        base, item = (int(part) for part in text.split(","))
    except ValueError:
        raise SystemExit(f"{ROUNDS_ENV} must be '<base>,<item>' integers, not {text!r}") from None
    if base < 1 or item < 1:
        raise SystemExit(f"{ROUNDS_ENV}: rounds must be >= 1, not {text!r}")
    return base, item


BASE_ROUNDS, ITEM_ROUNDS = _rounds_from_env()
"""Fixed-cost matrix products per call and per-item layer passes (see ``tune``)."""


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


def _best_time(payloads: list[dict[str, Any]], calls: int, trials: int) -> float:
    """CPU seconds per call of this thread: the fastest of ``trials`` means over
    ``calls`` calls. CPU time, not wall time, and the minimum: the figures least
    disturbed by other load on a shared machine (the model is single-threaded)."""
    best = float("inf")
    for _ in range(trials):
        started = time.thread_time()
        for _ in range(calls):
            predict_batch(payloads)
        best = min(best, (time.thread_time() - started) / calls)
    return best


def calibrate(calls: int = 20, trials: int = 7) -> dict[str, float]:
    """Measured cost on this machine with the current rounds: ms per call (fixed
    part), µs per item (from a batch of 256, so timing noise is spread over many
    items), and the cost of a batch of 64."""
    sample = [{"n": i, "amount": float(i)} for i in range(256)]
    predict_batch(sample)
    single = _best_time(sample[:1], calls, trials)
    large = _best_time(sample, calls, trials)
    batch64 = _best_time(sample[:64], calls, trials)
    per_item = (large - single) / 255
    return {"call_ms": (single - per_item) * 1e3, "item_us": per_item * 1e6,
            "batch64_ms": batch64 * 1e3, "base_rounds": float(BASE_ROUNDS),
            "item_rounds": float(ITEM_ROUNDS)}


def _solve(low: int, high: int, cost_low: float, cost_high: float, target: float) -> int:
    """Rounds where the line through (low, cost_low) and (high, cost_high) meets
    ``target`` (costs are a fixed overhead plus a part proportional to the rounds)."""
    slope = (cost_high - cost_low) / (high - low)
    if slope <= 0:  # noise swamped the difference: keep the cheaper guess
        return low
    return max(1, round(low + (target - cost_low) / slope))


def tune(attempts: int = 3, tolerance: float = 0.2) -> dict[str, float]:
    """Choose ``BASE_ROUNDS`` / ``ITEM_ROUNDS`` so a call costs ~1 ms plus ~10 µs per
    item here (within ``tolerance`` if the machine allows), set them in this process
    and in ``ROUNDS_ENV`` (inherited by every system's process), and return the final
    measurement.

    Each attempt measures at the current rounds and at twice as many, fits cost =
    overhead + slope x rounds for each part and solves for the target."""
    global BASE_ROUNDS, ITEM_ROUNDS
    measured = calibrate()
    for _ in range(attempts):
        call_ok = abs(measured["call_ms"] / TARGET_CALL_MS - 1) <= tolerance
        item_ok = abs(measured["item_us"] / TARGET_ITEM_US - 1) <= tolerance
        if call_ok and item_ok:
            break
        base, item = BASE_ROUNDS, ITEM_ROUNDS
        BASE_ROUNDS, ITEM_ROUNDS = base * 2, item * 2
        doubled = calibrate()
        BASE_ROUNDS = base if call_ok else _solve(
            base, base * 2, measured["call_ms"], doubled["call_ms"], TARGET_CALL_MS)
        ITEM_ROUNDS = item if item_ok else _solve(
            item, item * 2, measured["item_us"], doubled["item_us"], TARGET_ITEM_US)
        measured = calibrate()
    os.environ[ROUNDS_ENV] = f"{BASE_ROUNDS},{ITEM_ROUNDS}"
    return measured


SLOW_BATCH_S = 0.05
"""Extra time per batch of the backlog case's deliberately slow compute stage."""


def slow_predict_batch(payloads: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``predict_batch`` plus 50 ms per call: a stage far slower than its input, so
    a backlog builds up in front of it (the memory case)."""
    time.sleep(SLOW_BATCH_S)  # the simulated slow model, not a wait for anything
    return predict_batch(payloads)
