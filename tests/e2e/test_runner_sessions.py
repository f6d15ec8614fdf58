"""Runner sessions: store views live exactly as long as a run; stream; empty input."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from slither_stream.context import Context
from slither_stream.errors import ConfigError, StoreError
from slither_stream.item import Item
from slither_stream.log import Log
from slither_stream.pipe import Pipe
from slither_stream.pipe.deploy.runner import PipeRunError, Runner
from slither_stream.store import Store, TableSpec, ViewSpec

Names = Callable[[str], str]


class Prices(Store):
    name = "prices"

    def tables(self) -> Sequence[TableSpec]:
        return [TableSpec("price", key="string")]

    def views(self) -> Sequence[ViewSpec]:
        return [ViewSpec("price_of", self.price_of)]

    def load(self, tables: Mapping[str, Any]) -> None:
        tables["price"].bulk_insert([("apple", 3), ("pear", 5)])

    def price_of(self, fruit: str) -> Any:
        return self.table("price").get(fruit)


def price_pipe(seen: list[Context], *, fail_on: str | None = None) -> Pipe:
    def priced(item: Item, ctx: Context) -> Any:
        seen.append(ctx)
        if item.payload["fruit"] == fail_on:
            raise RuntimeError("no such fruit here")
        return {**item.payload, "price": ctx.view("price_of", fruit=item.payload["fruit"])}

    pipe = Pipe("shop", partitions=1)
    pipe.store("prices", Prices)
    pipe.local("price", priced)
    return pipe


def test_store_views_are_scoped_to_the_run(log: Log, unique_name: Names,
                                           tmp_path: Path) -> None:
    seen: list[Context] = []
    outputs = Runner.run(price_pipe(seen), [{"fruit": "apple"}, {"fruit": "pear"}], log=log,
                         namespace=unique_name("shop"), session_id="run-1",
                         store_dir=str(tmp_path / "stores"), timeout=90)
    assert sorted(item.payload["price"] for item in outputs["default"]) == [3, 5]
    assert {ctx.session_id for ctx in seen} == {"run-1"}
    assert {ctx.stage for ctx in seen} == {"price"}
    assert "prices" in seen[0].stores
    with pytest.raises(StoreError, match="price_of"):
        seen[0].view("price_of", fruit="apple")  # unregistered when the run ended


def test_store_views_are_removed_when_the_run_fails(log: Log, unique_name: Names,
                                                    tmp_path: Path) -> None:
    seen: list[Context] = []
    with pytest.raises(PipeRunError, match="no such fruit here"):
        Runner.run(price_pipe(seen, fail_on="kiwi"), [{"fruit": "kiwi"}], log=log,
                   namespace=unique_name("shop"), store_dir=str(tmp_path / "stores"),
                   timeout=90)
    assert seen
    with pytest.raises(StoreError, match="price_of"):
        seen[0].view("price_of", fruit="apple")


def test_stream_yields_outputs_and_empty_input_finishes() -> None:
    pipe = Pipe("evens", partitions=2)
    pipe.router("split", [(lambda item: item.payload % 2 == 0, "even")]).output("even")
    pairs = list(Runner.stream(pipe, range(10), timeout=60))
    assert sorted((name, item.payload) for name, item in pairs) == sorted(
        [("even", n) for n in range(0, 10, 2)] + [("default", n) for n in range(1, 10, 2)])
    assert Runner.run(pipe, [], timeout=60) == {"even": [], "default": []}


def test_stream_closed_early_stops_the_run() -> None:
    import threading

    pipe = Pipe("early", partitions=1).local("same", lambda item, ctx: item.payload)
    stream = Runner.stream(pipe, range(50), timeout=60)
    first = next(iter(stream))
    assert first[0] == "default"
    stream.close()  # type: ignore[attr-defined]
    assert not [t for t in threading.enumerate() if t.name.startswith("slither-stage-early")]


def test_inputs_are_read_as_the_first_stage_keeps_up(
        log: Log, unique_name: Callable[[str], str], monkeypatch: pytest.MonkeyPatch) -> None:
    """A run reads its inputs lazily, at most MAX_INPUTS_AHEAD (here 300) records
    ahead of the first stage, and outputs come out while inputs still go in;
    ``count`` counts what ``run`` would return."""
    from slither_stream.pipe.deploy import inputs

    monkeypatch.setattr(inputs, "MAX_INPUTS_AHEAD", 300)
    taken = []

    def payloads(total: int) -> Iterator[dict[str, int]]:
        for n in range(total):
            taken.append(n)
            yield {"n": n}

    pipe = Pipe(unique_name("lazy"), partitions=2)
    pipe.local("same", lambda item, ctx: item.payload, batch_size=50)
    pipe.router("split", [(lambda item: item.payload["n"] % 3 == 0, "threes")])
    pipe.output("threes")
    stream = Runner.stream(pipe, payloads(3000), log=log, timeout=120)
    assert taken == []  # nothing read before the run is iterated
    first = next(iter(stream))
    assert first[0] in ("threes", "default")
    assert len(taken) < 3000  # outputs while most inputs are still unread
    rest = list(stream)
    assert len(rest) + 1 == 3000 and len(taken) == 3000

    taken.clear()
    counts = Runner.count(pipe, payloads(3000), log=log, timeout=120)
    assert counts == {"threes": 1000, "default": 2000}
    with pytest.raises(ConfigError, match="unknown Runner option"):
        Runner.count(pipe, [], lag=1)


def test_bad_runner_arguments_fail_at_once() -> None:
    from slither_stream.errors import ConfigError

    pipe = Pipe("bad").local("same", lambda item, ctx: item.payload)
    with pytest.raises(ConfigError, match="iterable of payloads"):
        Runner.run(pipe, "not a list")
    with pytest.raises(ConfigError, match="Pipe or PipeDefinition"):
        Runner.run("pipe", [1])  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="keys must be"):
        Runner.run(pipe, [1], keys="field")
