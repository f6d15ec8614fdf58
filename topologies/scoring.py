"""The quick start made real: enrich transactions from a feature store, score them
with a fitted logistic-regression model in the compute pool, route by risk.

    slither run topologies/scoring.py --input topologies/data/transactions.jsonl

``features`` is a store loaded from ``data/features.csv`` (on first start; later
starts restore it from its changelog). ``enrich`` looks each transaction's user up
through the session view ``user_features``; ``score`` runs
:func:`topologies.models.predict_batch` in batches; ``route`` sends low-risk
transactions to ``accept``, medium-risk ones to ``review`` and the rest to ``reject``.
An unknown user fails ``enrich`` and goes to the dead-letter topic (policy ``route``).

The input topic carries Avro ``slither.examples.Transaction`` records and the routed
outputs Avro ``slither.examples.ScoredTransaction`` (Confluent framing; the schemas
are in ``schemas/``), so ``slither produce`` / ``slither consume --topology`` encode
and decode them without being told; topics between stages stay JSON.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from slither_stream import Context, Item
from slither_stream.pipe import Pipe
from slither_stream.store import Store, TableSpec, ViewSpec

DATA = Path(__file__).resolve().parent / "data"
SCHEMAS = Path(__file__).resolve().parent.parent / "schemas"
INPUT_SERDE = "avro:slither.examples.Transaction"
OUTPUT_SERDE = "avro:slither.examples.ScoredTransaction"
ACCEPT_BELOW = 0.2
REVIEW_BELOW = 0.6


class FeatureStore(Store):
    """Per-user features, keyed by user id."""

    name = "features"

    def tables(self) -> Sequence[TableSpec]:
        return [TableSpec("users", key="string")]

    def views(self) -> Sequence[ViewSpec]:
        return [ViewSpec("user_features", self.user_features)]

    def load(self, tables: Mapping[str, Any]) -> None:
        tables["users"].bulk_insert(read_features(DATA / "features.csv"))

    def user_features(self, user_id: str) -> dict[str, Any] | None:
        found: dict[str, Any] | None = self.table("users").get(user_id)
        return found


def read_features(path: Path) -> list[tuple[str, dict[str, Any]]]:
    with path.open() as handle:
        return [(row["user_id"], {
            "account_age_days": int(row["account_age_days"]),
            "avg_amount": float(row["avg_amount"]),
            "chargebacks": int(row["chargebacks"]),
            "country_risk": float(row["country_risk"]),
        }) for row in csv.DictReader(handle)]


def enrich(item: Item, ctx: Context) -> Any:
    user = item.payload.get("user_id")
    features = ctx.view("user_features", user_id=user)
    if features is None:
        raise LookupError(f"unknown user {user!r}")
    return {**item.payload, **features}


def low_risk(item: Item) -> bool:
    return bool(item.payload["fraud_probability"] < ACCEPT_BELOW)


def medium_risk(item: Item) -> bool:
    return bool(item.payload["fraud_probability"] < REVIEW_BELOW)


def always(item: Item) -> bool:
    return True


scoring = Pipe("scoring", partitions=4, input_serde=INPUT_SERDE, schemas=SCHEMAS)
scoring.store("features", FeatureStore)
scoring.local("enrich", enrich)
scoring.compute("score", "topologies.models:predict_batch", batch_size=32, max_in_flight=4)
scoring.router("route", [(low_risk, "accept"), (medium_risk, "review"), (always, "reject")])
scoring.outputs("accept", "review", "reject", serde=OUTPUT_SERDE)
scoring.on_error("enrich", "dead_letter")
scoring.on_error("*", "halt")
