"""Fit the claim model on ``data/claims_train.csv``; writes ``data/claims_weights.json``.

    python -m topologies.train_claims
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np

from topologies.claims_model import FEATURES, WEIGHTS, claim_features
from topologies.train_scoring import auc, fit

DATA = Path(__file__).resolve().parent / "data"


def main() -> None:
    with (DATA / "claims_train.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    x = np.asarray([claim_features(row["text"]) for row in rows], dtype=float)
    y = np.asarray([int(row["checkworthy"]) for row in rows], dtype=float)
    mean, scale = x.mean(axis=0), x.std(axis=0)
    scale[scale == 0] = 1.0
    weights, bias = fit((x - mean) / scale, y, l2=1.0)
    p = 1.0 / (1.0 + np.exp(-(((x - mean) / scale) @ weights + bias)))
    accuracy = float(np.mean((p >= 0.5) == (y == 1)))
    WEIGHTS.write_text(json.dumps({
        "features": list(FEATURES), "mean": mean.round(8).tolist(),
        "scale": scale.round(8).tolist(), "weights": weights.round(8).tolist(),
        "bias": round(bias, 8), "training_rows": len(y), "accuracy": round(accuracy, 5),
        "auc": round(auc(p, y), 5),
    }, indent=2) + "\n")
    print(f"fitted on {len(y)} sentences: accuracy {accuracy:.3f}, AUC {auc(p, y):.3f} "
          f"-> {WEIGHTS}")


if __name__ == "__main__":
    main()
