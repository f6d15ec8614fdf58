"""State writes from stages, in both delivery modes: buffered, committed with the
stage's outputs (in its transaction under exactly_once), applied by the store once
committed; a failed item's writes never reach the store."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from slither_stream.context import Context
from slither_stream.errors import StoreError
from slither_stream.item import Item
from slither_stream.log import Log
from slither_stream.pipe import Pipe, state
from slither_stream.pipe.deploy.runner import Runner
from slither_stream.store import Store, StoreApp, TableSpec, changelog_topic
from tests.e2e.helpers import read_topic

Names = Callable[[str], str]


class Tally(Store):
    name = "tally"

    def tables(self) -> Sequence[TableSpec]:
        return [TableSpec("last", key="string")]


def remember(item: Item, ctx: Context) -> Any:
    state.put(ctx, "tally", "last", item.payload["user"], item.payload["n"])
    if item.payload["n"] == 5:
        raise ValueError("five fails after writing")
    return item.payload


def tally_pipe(name: str, delivery: str) -> Pipe:
    pipe = Pipe(name, partitions=2, delivery=delivery)  # type: ignore[arg-type]
    pipe.store("tally", Tally)
    pipe.local("remember", remember, batch_size=4)
    pipe.on_error("remember", "skip")
    return pipe


INPUTS = [{"user": user, "n": n} for n, user in enumerate("abcabcabca")]


@pytest.mark.parametrize("delivery", ["exactly_once", "at_least_once"])
def test_stage_store_writes(log: Log, unique_name: Names, tmp_path: Path,
                            delivery: str) -> None:
    name = unique_name("tally")
    # the stores of a run belong to its namespace, as its topics do
    outputs = Runner.run(tally_pipe(name, delivery), INPUTS, log=log, namespace=name,
                         keys=lambda payload: payload["user"],
                         store_dir=str(tmp_path / "stores"), timeout=120)
    assert sorted(item.payload["n"] for item in outputs["default"]) == \
        [n for n in range(10) if n != 5]
    records = read_topic(log, changelog_topic(name, "tally", "last"))
    written = {int(r.value or b"-1") for r in records}
    # the last write of a key per commit is produced; the failed item's never
    assert {7, 8, 9} <= written <= {n for n in range(10) if n != 5}
    # a fresh replica restored from the changelog holds the last committed value per key
    with StoreApp([Tally], log=log, app=name, data_dir=tmp_path / "replica") as app:
        table = app["tally"].table("last")
        # per-key order holds, so each user's last write wins (c: 2, 5 failed, 8)
        assert (table.get("a"), table.get("b"), table.get("c")) == (9, 7, 8)


def test_state_write_errors(unique_name: Names) -> None:
    with pytest.raises(StoreError, match="no store 'nope'"):
        state.put(Context(), "nope", "t", "k", 1)
