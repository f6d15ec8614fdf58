"""Regenerate the shipped example data (deterministic: fixed seed).

    python -m topologies.generate_data

Writes ``data/features.csv`` (per-user features for the feature store),
``data/train.csv`` (labelled historical transactions for the scoring model),
``data/transactions.jsonl`` (the main job's input) and ``data/documents.jsonl``
(the claims example's input). Labels come from a hidden logistic rule plus noise,
so the fitted model is good but not perfect, like a real one.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parent / "data"
COUNTRIES = {"NL": 0.1, "DE": 0.15, "US": 0.3, "BR": 0.55, "NG": 0.8, "XX": 0.95}
USERS = 120


def users(rng: np.random.Generator) -> list[dict[str, object]]:
    rows = []
    for index in range(USERS):
        country = rng.choice(list(COUNTRIES))
        rows.append({
            "user_id": f"u{index:03d}",
            "account_age_days": int(rng.gamma(2.0, 300.0)) + 1,
            "avg_amount": round(float(rng.lognormal(3.5, 0.6)), 2),
            "chargebacks": int(rng.poisson(0.4)),
            "country": str(country),
            "country_risk": COUNTRIES[str(country)],
        })
    return rows


def transaction(rng: np.random.Generator, user: dict[str, object], txn_id: str
                ) -> dict[str, object]:
    avg = float(user["avg_amount"])  # type: ignore[arg-type]
    spike = rng.random() < 0.25
    amount = avg * (rng.lognormal(1.3, 0.5) if spike else rng.lognormal(0.0, 0.35))
    return {"txn_id": txn_id, "user_id": user["user_id"], "amount": round(float(amount), 2),
            "hour": int(rng.integers(0, 24))}


def hidden_fraud_probability(user: dict[str, object], txn: dict[str, object]) -> float:
    ratio = float(txn["amount"]) / float(user["avg_amount"])  # type: ignore[arg-type]
    z = (-4.2 + 0.9 * math.log(ratio + 1e-9) * 2.0 - 0.55 * math.log1p(
        float(user["account_age_days"])) + 0.9 * float(user["chargebacks"])  # type: ignore[arg-type]
        + 3.2 * float(user["country_risk"]) + 1.1 * (int(txn["hour"]) < 6)  # type: ignore[arg-type]
        + 2.5)
    return 1.0 / (1.0 + math.exp(-z))


def main() -> None:
    rng = np.random.default_rng(20261128)
    people = users(rng)
    DATA.mkdir(exist_ok=True)
    with (DATA / "features.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(people[0]))
        writer.writeheader()
        writer.writerows(people)
    with (DATA / "train.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["user_id", "amount", "hour", "fraud"])
        for index in range(4000):
            user = people[int(rng.integers(0, USERS))]
            txn = transaction(rng, user, f"h{index}")
            label = int(rng.random() < hidden_fraud_probability(user, txn))
            writer.writerow([user["user_id"], txn["amount"], txn["hour"], label])
    with (DATA / "transactions.jsonl").open("w") as handle:
        for index in range(500):
            user = people[int(rng.integers(0, USERS))]
            handle.write(json.dumps(transaction(rng, user, f"t{index:04d}")) + "\n")
    sentences = [
        "The new bridge cut commute times by 40 percent.",
        "Unemployment fell to 3.1 percent in March.",
        "I think the weather was lovely.",
        "The mayor said the budget doubled since 2019.",
        "What a great concert that was.",
        "Crime rose 12 percent last year according to police data.",
        "We should all be kinder to each other.",
        "The vaccine was tested on 30000 volunteers.",
        "Tickets cost 25 dollars at the door.",
        "Nobody likes rainy Mondays.",
        "Exports to China grew by 8 percent in 2023.",
        "The museum opens at nine.",
    ]
    with (DATA / "documents.jsonl").open("w") as handle:
        for index in range(40):
            count = int(rng.integers(1, 5))
            chosen = [sentences[int(i)] for i in rng.choice(len(sentences), count, replace=False)]
            handle.write(json.dumps({"doc_id": f"d{index:03d}", "text": " ".join(chosen)}) + "\n")
    write_claims_training(rng)


def claim_training_rows(rng: np.random.Generator) -> list[tuple[str, int]]:
    """Labelled sentences: 1 = a checkable factual claim, 0 = opinion or chatter."""
    subjects = ["Unemployment", "Inflation", "The city budget", "Crime", "Exports",
                "Rainfall", "Ticket sales", "The population", "Hospital admissions"]
    verbs = ["rose", "fell", "grew", "dropped", "doubled since", "increased by",
             "decreased by"]
    opinions = ["I think {s} is fine.", "{s} feels worse than ever.",
                "We should care more about {s}.", "Honestly {s} is boring.",
                "Nobody likes {s}.", "What a lovely day for {s}.",
                "{s} is the best thing about this town.", "I believe {s} will improve."]
    rows: list[tuple[str, int]] = []
    for _ in range(300):
        subject = subjects[int(rng.integers(0, len(subjects)))]
        if rng.random() < 0.5:
            verb = verbs[int(rng.integers(0, len(verbs)))]
            number = int(rng.integers(2, 90))
            unit = [" percent", "%", "", " million"][int(rng.integers(0, 4))]
            year = f" in {int(rng.integers(1995, 2025))}" if rng.random() < 0.6 else ""
            rows.append((f"{subject} {verb} {number}{unit}{year}.", int(rng.random() > 0.05)))
        else:
            text = opinions[int(rng.integers(0, len(opinions)))].format(s=subject.lower())
            rows.append((text[0].upper() + text[1:], int(rng.random() < 0.05)))
    return rows


def write_claims_training(rng: np.random.Generator) -> None:
    with (DATA / "claims_train.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "checkworthy"])
        writer.writerows(claim_training_rows(rng))


if __name__ == "__main__":
    main()
