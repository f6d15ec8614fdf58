"""Text -> claims -> per-claim scoring: a 1:many stage and key-partitioned batches.

    slither run topologies/claims.py --input topologies/data/documents.jsonl

``extract`` splits each document into sentence claims (``cardinality="many"``: one
item per claim, keyed by the document id so a document's claims stay in one
partition, in order). ``score`` runs :func:`topologies.claims_model.predict_claims`
with ``batch_by="key"``: each batch holds claims of one document only, which lets
the model rank claims within their document (a document whose claims arrive in two
polls is ranked per part). ``route`` sends check-worthy claims to
``check`` and the rest to ``ignore``.
"""

from __future__ import annotations

import re
from typing import Any

from slither_stream import Context, Item
from slither_stream.pipe import Pipe

SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
CHECK_FROM = 0.5


def split_claims(text: str) -> list[str]:
    return [part.strip() for part in SENTENCE_END.split(text.strip()) if part.strip()]


def extract(item: Item, ctx: Context) -> Any:
    doc_id = str(item.payload["doc_id"])
    return [
        Item.wrap({"doc_id": doc_id, "index": index, "claim": claim}, key=doc_id,
                  meta={**item.meta, "parent_id": item.id})
        for index, claim in enumerate(split_claims(str(item.payload["text"])))
    ]


def checkworthy(item: Item) -> bool:
    return bool(item.payload["checkworthiness"] >= CHECK_FROM)


def always(item: Item) -> bool:
    return True


claims = Pipe("claims", partitions=4)
claims.local("extract", extract, cardinality="many")
claims.compute("score", "topologies.claims_model:predict_claims", batch_size=16,
               max_in_flight=2, batch_by="key")
claims.router("route", [(checkworthy, "check"), (always, "ignore")])
claims.outputs("check", "ignore")
claims.on_error("*", "dead_letter")
