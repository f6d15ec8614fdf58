"""A pipe with a store, deployed under two namespaces by ``test_namespaces``.

``profiles`` loads ``user -> {"tier": ...}`` from the JSON file named by
``$SLITHER_TEST_PROFILES`` (the test rewrites it between a deployment's load and a
reload); ``enrich`` stamps each record with its user's tier, so an output shows
which store generation answered.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import orjson

from slither_stream import Context, Item
from slither_stream.pipe import Pipe
from slither_stream.store import Store, TableSpec, ViewSpec

PROFILES_ENV = "SLITHER_TEST_PROFILES"


class Profiles(Store):
    name = "profiles"

    def tables(self) -> Sequence[TableSpec]:
        return [TableSpec("users", key="string")]

    def views(self) -> Sequence[ViewSpec]:
        return [ViewSpec("profile", self.profile)]

    def load(self, tables: Mapping[str, Any]) -> None:
        data = orjson.loads(Path(os.environ[PROFILES_ENV]).read_bytes())
        tables["users"].bulk_insert(sorted(data.items()))

    def profile(self, user: str) -> dict[str, Any] | None:
        found: dict[str, Any] | None = self.table("users").get(user)
        return found


def enrich(item: Item, ctx: Context) -> Any:
    profile = ctx.view("profile", user=item.payload["user"]) or {}
    return {**item.payload, "tier": profile.get("tier")}


pipe = Pipe("nsprofiles", partitions=2)
pipe.store("profiles", Profiles)
pipe.local("enrich", enrich, batch_size=10)
