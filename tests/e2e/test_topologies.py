"""The shipped topologies end to end, checked against independent computations."""

from __future__ import annotations

import csv
import dataclasses
import json
import math
from collections.abc import Callable
from pathlib import Path

import pytest

from slither_stream.log import Log
from slither_stream.pipe.deploy.runner import Runner
from slither_stream.pipe.engine.dlq import DeadLetter
from tests.e2e.helpers import read_topic
from topologies.scoring import ACCEPT_BELOW, REVIEW_BELOW, scoring

DATA = Path(__file__).resolve().parents[2] / "topologies" / "data"
Names = Callable[[str], str]


def expected_routes() -> dict[str, str]:
    """txn_id -> output, from the shipped data and weights with plain ``math``."""
    with (DATA / "features.csv").open() as handle:
        users = {row["user_id"]: row for row in csv.DictReader(handle)}
    model = json.loads((DATA / "scoring_weights.json").read_text())
    routes = {}
    for line in (DATA / "transactions.jsonl").read_text().splitlines():
        txn = json.loads(line)
        user = users[txn["user_id"]]
        raw = [math.log(txn["amount"] / float(user["avg_amount"])),
               math.log1p(float(user["account_age_days"])),
               float(user["chargebacks"]), float(user["country_risk"]),
               1.0 if txn["hour"] < 6 else 0.0]
        z = model["bias"] + sum(
            w * (x - m) / s for w, x, m, s in
            zip(model["weights"], raw, model["mean"], model["scale"], strict=True))
        p = 1 / (1 + math.exp(-z))
        routes[txn["txn_id"]] = ("accept" if p < ACCEPT_BELOW else
                                 "review" if p < REVIEW_BELOW else "reject")
    return routes


def transactions() -> list[dict[str, object]]:
    return [json.loads(line) for line in (DATA / "transactions.jsonl").read_text().splitlines()]


def test_scoring_routes_match_independent_computation(
        log: Log, unique_name: Names, tmp_path: Path) -> None:
    outputs = Runner.run(scoring, transactions(), log=log, namespace=unique_name("scoring"),
                         store_dir=str(tmp_path / "stores"), timeout=120,
                         keys=lambda payload: payload["user_id"])
    got = {item.payload["txn_id"]: name for name, items in outputs.items() for item in items}
    expected = expected_routes()
    assert got == expected
    counts = {name: sum(1 for v in expected.values() if v == name)
              for name in ("accept", "review", "reject")}
    assert all(count > 0 for count in counts.values()), counts  # the data exercises every route
    assert outputs["default"] == []


def test_scoring_unknown_user_is_dead_lettered(
        log: Log, unique_name: Names, tmp_path: Path) -> None:
    namespace = unique_name("scoring")
    good = transactions()[:5]
    bad = {"txn_id": "tx-bad", "user_id": "nobody", "amount": 10.0, "hour": 3}
    outputs = Runner.run(scoring, [*good, bad, b"{broken"], log=log, namespace=namespace,
                         store_dir=str(tmp_path / "stores"), timeout=120)
    assert sum(len(items) for items in outputs.values()) == 5
    letters = [DeadLetter.from_record(r) for r in read_topic(log, f"{namespace}.enrich.dlq")]
    assert sorted(letter.error_type for letter in letters) == ["LookupError", "SerializationError"]
    unknown = next(letter for letter in letters if letter.error_type == "LookupError")
    assert unknown.message == "unknown user 'nobody'"
    # The dead letter is the original input record: Avro, in the input topic's serde.
    dlq = scoring.compile().with_namespace(namespace).envelope(f"{namespace}.enrich.dlq")
    assert dlq.serde.decode(unknown.value or b"")["txn_id"] == "tx-bad"


@pytest.mark.parametrize("delivery", ["exactly_once"])
def test_scoring_exactly_once_same_split(log: Log, unique_name: Names, tmp_path: Path,
                                         delivery: str) -> None:
    eos = dataclasses.replace(scoring.compile(), delivery=delivery)
    sample = transactions()[:100]
    outputs = Runner.run(eos, sample, log=log, namespace=unique_name("scoring-eos"),
                         store_dir=str(tmp_path / "stores"), timeout=120)
    expected = expected_routes()
    got = {item.payload["txn_id"]: name for name, items in outputs.items() for item in items}
    assert got == {str(t["txn_id"]): expected[str(t["txn_id"])] for t in sample}
