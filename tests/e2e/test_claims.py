"""The claims topology: 1:many extraction and key-partitioned scoring, both backends."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from pathlib import Path

from slither_stream.log import Log
from slither_stream.pipe.deploy.runner import Runner
from topologies.claims import CHECK_FROM, claims

DATA = Path(__file__).resolve().parents[2] / "topologies" / "data"
Names = Callable[[str], str]


def expected() -> dict[tuple[str, int], str]:
    """(doc_id, claim index) -> output, recomputed here with plain ``re`` and ``math``."""
    model = json.loads((DATA / "claims_weights.json").read_text())
    opinion = re.compile(r"\b(think|believe|should|feels?|best|lovely|boring|likes?|great|"
                         r"kinder|honestly|what a)\b", re.IGNORECASE)
    change = re.compile(r"\b(rose|fell|grew|dropped|doubled|increased|decreased|cut|cost|"
                        r"tested|opens)\b", re.IGNORECASE)
    result = {}
    for line in (DATA / "documents.jsonl").read_text().splitlines():
        doc = json.loads(line)
        sentences = [s for s in re.split(r"(?<=[.!?])\s+", doc["text"].strip()) if s]
        for index, text in enumerate(sentences):
            raw = [float(any(c.isdigit() for c in text)),
                   float("percent" in text.lower() or "%" in text),
                   float(bool(re.search(r"\b(19|20)\d\d\b", text))),
                   float(bool(re.match(r"^(I|We)\b", text))),
                   float(len(opinion.findall(text))), float(bool(change.search(text))),
                   math.log(len(text.split()) + 1)]
            z = model["bias"] + sum(w * (x - m) / s for w, x, m, s in zip(
                model["weights"], raw, model["mean"], model["scale"], strict=True))
            p = 1 / (1 + math.exp(-z))
            result[(doc["doc_id"], index)] = "check" if p >= CHECK_FROM else "ignore"
    return result


def test_claims_expand_and_route(log: Log, unique_name: Names) -> None:
    documents = [json.loads(line) for line in
                 (DATA / "documents.jsonl").read_text().splitlines()]
    outputs = Runner.run(claims, documents, log=log, namespace=unique_name("claims"),
                         timeout=120)
    got = {(item.payload["doc_id"], item.payload["index"]): name
           for name, items in outputs.items() for item in items}
    want = expected()
    assert got == want
    assert len(want) > len(documents)  # 1:many: more claims than documents
    assert {"check", "ignore"} == set(want.values())
    for name in ("check", "ignore"):
        per_doc: dict[str, list[int]] = {}
        for item in outputs[name]:
            assert item.key == item.payload["doc_id"]  # claims keyed by their document
            per_doc.setdefault(item.key, []).append(item.payload["index"])
            claims_in_doc = sum(1 for doc, _ in want if doc == item.key)
            assert 1 <= item.payload["doc_rank"] <= claims_in_doc
        # per-key order survives three stages and four partitions
        assert all(indexes == sorted(indexes) for indexes in per_doc.values())
