"""The scoring model: logistic regression in NumPy, weights fitted by ``train_scoring``.

``predict_batch`` is the compute function of the scoring pipe's ``score`` stage: it
takes enriched transaction payloads and returns them with ``fraud_probability``.
The weights (with the standardisation means and scales) are read once per process
from ``data/scoring_weights.json``.
"""

from __future__ import annotations

import json
import math
import threading
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

WEIGHTS = Path(__file__).resolve().parent / "data" / "scoring_weights.json"
FEATURES = ("log_amount_ratio", "log_account_age", "chargebacks", "country_risk", "night")

_lock = threading.Lock()


def feature_vector(payload: dict[str, Any]) -> list[float]:
    """Model inputs from an enriched payload (transaction + the user's features)."""
    ratio = float(payload["amount"]) / float(payload["avg_amount"])
    return [
        math.log(ratio),
        math.log1p(float(payload["account_age_days"])),
        float(payload["chargebacks"]),
        float(payload["country_risk"]),
        1.0 if int(payload["hour"]) < 6 else 0.0,
    ]


@lru_cache(maxsize=1)
def load_weights() -> dict[str, Any]:
    with _lock, WEIGHTS.open() as handle:
        loaded: dict[str, Any] = json.load(handle)
    if tuple(loaded["features"]) != FEATURES:
        raise ValueError(f"{WEIGHTS} was fitted on {loaded['features']}, expected {FEATURES}")
    return loaded


def probabilities(matrix: np.ndarray) -> np.ndarray:
    """Fraud probability per row of raw feature vectors."""
    model = load_weights()
    scaled = (matrix - np.asarray(model["mean"])) / np.asarray(model["scale"])
    logits = scaled @ np.asarray(model["weights"]) + float(model["bias"])
    result: np.ndarray = 1.0 / (1.0 + np.exp(-logits))
    return result


def predict_batch(payloads: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Compute function: each payload gets ``fraud_probability`` (rounded to 6 places)."""
    if not payloads:
        return []
    matrix = np.asarray([feature_vector(p) for p in payloads], dtype=float)
    scores = probabilities(matrix)
    return [{**payload, "fraud_probability": round(float(score), 6)}
            for payload, score in zip(payloads, scores, strict=True)]
