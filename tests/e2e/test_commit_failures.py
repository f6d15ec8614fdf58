"""A failed commit drops what it held and re-reads it (both backends, both modes).

The stage's producer is the backend's real one, except that one chosen commit fails
(exactly_once: the transaction is aborted and the commit raises; at_least_once: the
flush reports a lost write). The stage keeps running totals per key in a store; what
it writes and keeps afterwards must be exact under exactly_once, and never below the
totals under at_least_once (a re-read counts records again, it never loses one).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import orjson
import pytest

from slither_stream.context import Context
from slither_stream.errors import ProduceError, TransactionError
from slither_stream.item import Item
from slither_stream.log import Log
from slither_stream.log.base import Producer
from slither_stream.pipe import Pipe, state
from slither_stream.pipe.deploy.runner import ensure_topics
from slither_stream.pipe.deploy.sessions import StoreSession
from slither_stream.pipe.engine.envelope import Envelope
from slither_stream.pipe.engine.loop import StageLoop
from slither_stream.store import Store, TableSpec
from tests.e2e.helpers import read_topic

Names = Callable[[str], str]
RECORDS, USERS = 400, 5


class Totals(Store):
    name = "totals"

    def tables(self) -> Sequence[TableSpec]:
        return [TableSpec("by_user", key="string")]


def count(item: Item, ctx: Context) -> Any:
    user = item.payload["user"]
    total = state.get(ctx, "totals", "by_user", user, default=0) + 1
    state.put(ctx, "totals", "by_user", user, total)
    return {"user": user, "n": total}


def failing_once(producer: Producer, delivery: str, failed: list[int]) -> Producer:
    """``producer`` with the commit of its second batch of writes failing: the
    transaction aborts, or the flush reports a write lost (after the broker took it)."""
    batches = [0]
    produce_many = producer.produce_many

    def counting(records: Any) -> None:
        batches[0] += 1
        produce_many(records)

    def fails_now() -> bool:
        if batches[0] >= 2 and not failed:
            failed.append(batches[0])
            return True
        return False

    producer.produce_many = counting  # type: ignore[method-assign]
    if delivery == "exactly_once":
        commit = producer.commit_transaction

        def commit_transaction(timeout: float | None = None) -> None:
            if fails_now():
                producer.abort_transaction()
                raise TransactionError("injected: the coordinator fenced this epoch")
            commit(timeout)

        producer.commit_transaction = commit_transaction  # type: ignore[method-assign]
    else:
        flush = producer.flush

        def failing_flush(timeout: float | None = None) -> None:
            flush(timeout)
            if fails_now():
                raise ProduceError("injected: a write was not acknowledged")

        producer.flush = failing_flush  # type: ignore[method-assign]
    return producer


@pytest.mark.parametrize("delivery", ["exactly_once", "at_least_once"])
def test_a_failed_commit_drops_its_state_and_outputs_and_reads_again(
        log: Log, unique_name: Names, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        delivery: str) -> None:
    name = unique_name("abort")
    pipe = Pipe(name, partitions=2, delivery=delivery,  # type: ignore[arg-type]
                commit_records=60)
    pipe.store("totals", Totals)
    pipe.local("count", count, batch_size=20)
    definition = pipe.compile()
    ensure_topics(log, definition)
    users = [f"u{n % USERS}" for n in range(RECORDS)]
    envelope = Envelope()
    with log.producer() as producer:
        for user in users:
            key, value, headers = envelope.encode(Item.wrap({"user": user}, key=user))
            producer.produce(definition.input_topic, value, key, headers=headers)
        producer.flush()

    failed: list[int] = []
    made = log.producer

    def producer_with_a_failure(**options: Any) -> Producer:
        return failing_once(made(**options), delivery, failed)

    with StoreSession(definition, log, "s1", data_dir=tmp_path / "stores") as stores:
        context = Context(pipe=name, stores=stores.stores)
        monkeypatch.setattr(log, "producer", producer_with_a_failure)

        def progress(stage: StageLoop) -> None:
            if stage.stats.idle and stage.stats.consumed >= RECORDS:
                stage.stop()

        stage = StageLoop(log, definition, "count", context=context, on_progress=progress)
        stage.run()
        monkeypatch.undo()
        table = stores.stores["totals"].table("by_user")
        kept = {user: table.get(user) for user in set(users)}
    assert failed, "the injected failure never happened"
    expected = Counter(users)
    written: dict[str, list[int]] = defaultdict(list)
    for record in read_topic(log, definition.output_topic("default")):
        payload = orjson.loads(record.value or b"")
        written[payload["user"]].append(payload["n"])
    if delivery == "exactly_once":
        # nothing of the aborted transaction is visible, and nothing is missing
        assert {user: sorted(ns) for user, ns in written.items()} == {
            user: list(range(1, total + 1)) for user, total in expected.items()}
        assert kept == dict(expected)
    else:
        # records since the last commit were counted again: more, never fewer
        for user, total in expected.items():
            assert kept[user] >= total
            assert set(range(1, total + 1)) <= set(written[user])
            assert max(written[user]) == kept[user]  # the store agrees with the outputs
        assert sum(len(ns) for ns in written.values()) > RECORDS
