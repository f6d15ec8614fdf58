"""Fit the scoring model on ``data/train.csv`` and write ``data/scoring_weights.json``.

    python -m topologies.train_scoring

Logistic regression by Newton's method (IRLS) with a small L2 penalty, on
standardised features; prints training log-loss, accuracy and AUC.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np

from topologies.models import FEATURES, WEIGHTS, feature_vector

DATA = Path(__file__).resolve().parent / "data"


def training_matrix() -> tuple[np.ndarray, np.ndarray]:
    with (DATA / "features.csv").open() as handle:
        users = {row["user_id"]: row for row in csv.DictReader(handle)}
    rows, labels = [], []
    with (DATA / "train.csv").open() as handle:
        for row in csv.DictReader(handle):
            payload = {**users[row["user_id"]], "amount": row["amount"], "hour": row["hour"]}
            rows.append(feature_vector(payload))
            labels.append(int(row["fraud"]))
    return np.asarray(rows, dtype=float), np.asarray(labels, dtype=float)


def fit(x: np.ndarray, y: np.ndarray, *, l2: float = 1e-3, iterations: int = 25
        ) -> tuple[np.ndarray, float]:
    design = np.hstack([x, np.ones((len(x), 1))])
    beta = np.zeros(design.shape[1])
    penalty = l2 * np.eye(design.shape[1])
    penalty[-1, -1] = 0.0
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-(design @ beta)))
        gradient = design.T @ (p - y) + penalty @ beta
        hessian = (design * (p * (1 - p))[:, None]).T @ design + penalty
        step = np.linalg.solve(hessian, gradient)
        beta -= step
        if np.max(np.abs(step)) < 1e-10:
            break
    return beta[:-1], float(beta[-1])


def auc(scores: np.ndarray, labels: np.ndarray) -> float:
    order = np.argsort(scores)
    ranks = np.empty(len(scores))
    ranks[order] = np.arange(1, len(scores) + 1)
    positives = labels == 1
    n_pos, n_neg = positives.sum(), (~positives).sum()
    return float((ranks[positives].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def main() -> None:
    x, y = training_matrix()
    mean, scale = x.mean(axis=0), x.std(axis=0)
    scale[scale == 0] = 1.0
    weights, bias = fit((x - mean) / scale, y)
    p = 1.0 / (1.0 + np.exp(-(((x - mean) / scale) @ weights + bias)))
    loss = float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))
    accuracy = float(np.mean((p >= 0.5) == (y == 1)))
    WEIGHTS.write_text(json.dumps({
        "features": list(FEATURES), "mean": mean.round(8).tolist(),
        "scale": scale.round(8).tolist(), "weights": weights.round(8).tolist(),
        "bias": round(bias, 8), "training_rows": len(y),
        "log_loss": round(loss, 5), "accuracy": round(accuracy, 5),
        "auc": round(auc(p, y), 5),
    }, indent=2) + "\n")
    print(f"fitted on {len(y)} rows: log-loss {loss:.4f}, accuracy {accuracy:.3f}, "
          f"AUC {auc(p, y):.3f} -> {WEIGHTS}")


if __name__ == "__main__":
    main()
