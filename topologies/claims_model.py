"""Claim check-worthiness: logistic regression on lexical features, in NumPy.

``predict_claims`` is the compute function of the claims pipe's ``score`` stage. It
is fed key-partitioned batches (all claims of one document together, the document
id being the key), so besides each claim's ``checkworthiness`` it can rank claims
within their document (``doc_rank``: 1 = the most check-worthy), which needs the
whole document in one batch.
"""

from __future__ import annotations

import json
import math
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

WEIGHTS = Path(__file__).resolve().parent / "data" / "claims_weights.json"
FEATURES = ("has_number", "has_percent", "has_year", "first_person", "opinion_words",
            "change_verb", "log_words")
OPINION = re.compile(r"\b(think|believe|should|feels?|best|lovely|boring|likes?|great|"
                     r"kinder|honestly|what a)\b", re.IGNORECASE)
CHANGE = re.compile(r"\b(rose|fell|grew|dropped|doubled|increased|decreased|cut|cost|"
                    r"tested|opens)\b", re.IGNORECASE)
YEAR = re.compile(r"\b(19|20)\d\d\b")


def claim_features(text: str) -> list[float]:
    words = text.split()
    return [
        1.0 if any(ch.isdigit() for ch in text) else 0.0,
        1.0 if ("percent" in text.lower() or "%" in text) else 0.0,
        1.0 if YEAR.search(text) else 0.0,
        1.0 if re.match(r"^(I|We)\b", text) else 0.0,
        float(len(OPINION.findall(text))),
        1.0 if CHANGE.search(text) else 0.0,
        math.log(len(words) + 1),
    ]


@lru_cache(maxsize=1)
def load_weights() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(WEIGHTS.read_text())
    if tuple(loaded["features"]) != FEATURES:
        raise ValueError(f"{WEIGHTS} was fitted on {loaded['features']}, expected {FEATURES}")
    return loaded


def checkworthiness(texts: list[str]) -> np.ndarray:
    model = load_weights()
    matrix = np.asarray([claim_features(t) for t in texts], dtype=float)
    scaled = (matrix - np.asarray(model["mean"])) / np.asarray(model["scale"])
    result: np.ndarray = 1.0 / (1.0 + np.exp(-(scaled @ np.asarray(model["weights"])
                                               + float(model["bias"]))))
    return result


def predict_claims(payloads: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Compute function: adds ``checkworthiness`` and the within-document ``doc_rank``."""
    if not payloads:
        return []
    scores = checkworthiness([p["claim"] for p in payloads])
    ranks: dict[int, int] = {}
    by_doc: dict[str, list[int]] = {}
    for position, payload in enumerate(payloads):
        by_doc.setdefault(payload["doc_id"], []).append(position)
    for positions in by_doc.values():
        ordered = sorted(positions, key=lambda i: (-scores[i], payloads[i]["index"]))
        for rank, position in enumerate(ordered, start=1):
            ranks[position] = rank
    return [{**payload, "checkworthiness": round(float(score), 6), "doc_rank": ranks[i]}
            for i, (payload, score) in enumerate(zip(payloads, scores, strict=True))]
