"""State reads see the stage's own writes at once, in both delivery modes and on both
backends: within a batch, across batches and across commits."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from slither_stream.context import Context
from slither_stream.item import Item
from slither_stream.log import Log
from slither_stream.pipe import Pipe, state
from slither_stream.pipe.deploy.runner import Runner
from slither_stream.store import Store, StoreApp, TableSpec

Names = Callable[[str], str]


class Totals(Store):
    name = "totals"

    def tables(self) -> Sequence[TableSpec]:
        return [TableSpec("by_user", key="string")]


def count(item: Item, ctx: Context) -> Any:
    user = item.payload["user"]
    total = state.get(ctx, "totals", "by_user", user, default={"n": 0, "sum": 0})
    total = {"n": total["n"] + 1, "sum": total["sum"] + item.payload["amount"]}
    state.put(ctx, "totals", "by_user", user, total)
    return {"user": user, **total}


def inputs(records: int, users: int) -> list[dict[str, Any]]:
    return [{"user": f"u{n % users}", "amount": n} for n in range(records)]


@pytest.mark.parametrize("case", [
    # 3,000 records over 7 users, batches of 50, a commit every 200 records: a user
    # appears several times per batch, per commit and across commits
    ("at_least_once", 3000, 50, 200),
    ("exactly_once", 3000, 50, 200),
    # a commit after every record: each read comes right after the commit of the
    # key's last write (under exactly_once the commit returns before its markers
    # reach the changelog partition)
    ("at_least_once", 200, 1, 1),
    ("exactly_once", 200, 1, 1),
    # a backlog read in large batches, a commit after each: the next batch comes
    # from the consumer's prefetched records at once
    ("exactly_once", 20_000, 500, 500),
])
def test_running_totals_read_their_own_writes(log: Log, unique_name: Names, tmp_path: Path,
                                              case: tuple[str, int, int, int]) -> None:
    delivery, records, batch, commit_every = case
    name = unique_name("totals")
    pipe = Pipe(name, partitions=2, delivery=delivery,  # type: ignore[arg-type]
                commit_records=commit_every)
    pipe.store("totals", Totals)
    pipe.local("count", count, batch_size=batch)
    data = inputs(records, 7)
    outputs = Runner.run(pipe, data, log=log, namespace=name, keys=lambda p: p["user"],
                         store_dir=str(tmp_path / "stores"), timeout=180)
    seen: dict[str, list[int]] = defaultdict(list)
    for item in outputs["default"]:
        seen[item.payload["user"]].append(item.payload["n"])
    expected = Counter(p["user"] for p in data)
    sums: dict[str, int] = defaultdict(int)
    for p in data:
        sums[p["user"]] += p["amount"]
    for user, counts in seen.items():
        assert sorted(counts) == list(range(1, expected[user] + 1)), user
    last = {item.payload["user"]: item.payload for item in outputs["default"]
            if item.payload["n"] == expected[item.payload["user"]]}
    assert {user: total["sum"] for user, total in last.items()} == dict(sums)
    # what the changelog holds: a fresh replica restores the final totals
    with StoreApp([Totals], log=log, app=name, data_dir=tmp_path / "replica") as app:
        table = app["totals"].table("by_user")
        assert {user: table.get(user)["sum"] for user in sums} == dict(sums)
