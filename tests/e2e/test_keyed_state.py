"""Keyed state partitioned with the input, on both backends and in both modes:
running totals per key, restarts that reuse local state or restore it in full, bad
records, a changelog with the wrong partition count, re-keying."""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from slither_stream.context import Context
from slither_stream.errors import ConfigError
from slither_stream.item import Item
from slither_stream.log import Log
from slither_stream.log.types import TopicSpec
from slither_stream.pipe import Pipe, Runner
from slither_stream.pipe.definition import PipeDefinition
from slither_stream.pipe.deploy.runner import ensure_topics
from slither_stream.pipe.engine.dlq import DeadLetter
from slither_stream.pipe.engine.envelope import Envelope
from slither_stream.pipe.engine.loop import StageLoop
from tests.e2e.helpers import read_topic

Names = Callable[[str], str]
DELIVERIES = ["at_least_once", "exactly_once"]


def total(item: Item, ctx: Context) -> Any:
    assert ctx.state is not None
    running = ctx.state.get({"n": 0, "sum": 0})
    running = {"n": running["n"] + 1, "sum": running["sum"] + item.payload["amount"]}
    ctx.state.set(running)
    return {"user": item.payload["user"], **running}


def totals_pipe(name: str, delivery: str, *, partitions: int = 3) -> Pipe:
    pipe = Pipe(name, partitions=partitions, delivery=delivery,  # type: ignore[arg-type]
                commit_records=100)
    pipe.local("total", total, state=["totals"], batch_size=50)
    pipe.on_error("*", "dead_letter")
    return pipe


def records(first: int, count: int, users: int = 11) -> list[dict[str, Any]]:
    return [{"user": f"u{n % users}", "amount": n} for n in range(first, first + count)]


def produce(log: Log, definition: PipeDefinition, payloads: list[dict[str, Any]],
            *, key: Callable[[dict[str, Any]], str | None] = lambda p: p["user"]) -> None:
    envelope = Envelope()
    with log.producer() as producer:
        for payload in payloads:
            encoded_key, value, headers = envelope.encode(Item.wrap(payload, key=key(payload)))
            producer.produce(definition.input_topic, value, encoded_key, headers=headers)
        producer.flush()


def drain(log: Log, definition: PipeDefinition, state_dir: Path, expected: int) -> StageLoop:
    """Run the stage until it has committed ``expected`` records, then stop it."""
    def progress(stage: StageLoop) -> None:
        if stage.stats.idle and stage.stats.consumed >= expected:
            stage.stop()

    stage = StageLoop(log, definition, "total", on_progress=progress, state_dir=state_dir)
    stage.run()
    return stage


def outputs(log: Log, definition: PipeDefinition) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for record in read_topic(log, definition.output_topic("default")):
        payload = orjson.loads(record.value or b"")
        found[payload["user"]].append(payload)
    return found


def check_exact(found: dict[str, list[dict[str, Any]]], data: list[dict[str, Any]]) -> None:
    expected = Counter(p["user"] for p in data)
    sums: dict[str, int] = defaultdict(int)
    for payload in data:
        sums[payload["user"]] += payload["amount"]
    assert {user: sorted(p["n"] for p in got) for user, got in found.items()} == {
        user: list(range(1, count + 1)) for user, count in expected.items()}
    assert {user: max(got, key=lambda p: p["n"])["sum"] for user, got in found.items()} \
        == dict(sums)


@pytest.mark.parametrize("delivery", DELIVERIES)
def test_running_totals_per_key_in_a_run(log: Log, unique_name: Names, tmp_path: Path,
                                         delivery: str) -> None:
    name = unique_name("keyed")
    data = records(0, 2000)
    result = Runner.run(totals_pipe(name, delivery), data, log=log, namespace=name,
                        keys=lambda p: p["user"], store_dir=str(tmp_path), timeout=180)
    found: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for item in result["default"]:
        found[item.payload["user"]].append(item.payload)
    check_exact(found, data)
    # the changelog has one partition per input partition, compacted
    info = log.describe_topic(f"{name}.total.totals.changelog")
    assert info.partitions == 3 and info.compacted


@pytest.mark.parametrize("delivery", DELIVERIES)
def test_a_restart_reuses_local_state_and_restores_only_the_tail(
        log: Log, unique_name: Names, tmp_path: Path, delivery: str) -> None:
    name = unique_name("restart")
    definition = totals_pipe(name, delivery).compile()
    ensure_topics(log, definition)
    first = records(0, 1500)
    produce(log, definition, first)
    drain(log, definition, tmp_path, len(first))
    changelog = sum(1 for _ in read_topic(log, f"{name}.total.totals.changelog"))
    second = records(1500, 600)
    produce(log, definition, second)
    stage = drain(log, definition, tmp_path, len(second))
    assert stage.tasks is not None
    # at most the last commit's records lag the checkpoints: a tail, not the whole log
    assert stage.tasks.restored_records < changelog // 2
    check_exact(outputs(log, definition), first + second)


@pytest.mark.parametrize("delivery", DELIVERIES)
def test_deleted_local_state_is_restored_in_full(log: Log, unique_name: Names,
                                                 tmp_path: Path, delivery: str) -> None:
    name = unique_name("fullrestore")
    definition = totals_pipe(name, delivery).compile()
    ensure_topics(log, definition)
    first = records(0, 1200)
    produce(log, definition, first)
    drain(log, definition, tmp_path / "host-a", len(first))
    second = records(1200, 300)
    produce(log, definition, second)
    # another host, no local state: every task restores from the changelog
    stage = drain(log, definition, tmp_path / "host-b", len(second))
    assert stage.tasks is not None and stage.tasks.restored_records >= 11
    check_exact(outputs(log, definition), first + second)


def test_a_corrupt_local_instance_is_wiped_and_restored(
        log: Log, unique_name: Names, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    name = unique_name("corrupt")
    definition = totals_pipe(name, "at_least_once", partitions=1).compile()
    ensure_topics(log, definition)
    first = records(0, 400)
    produce(log, definition, first)
    drain(log, definition, tmp_path, len(first))
    instance = tmp_path / name / "total.state" / "totals" / "0"
    for path in instance.iterdir():
        if path.name.startswith(("MANIFEST", "CURRENT")):
            path.write_bytes(b"not a manifest")
    second = records(400, 100)
    produce(log, definition, second)
    with caplog.at_level(logging.WARNING):
        stage = drain(log, definition, tmp_path, len(second))
    assert stage.tasks is not None and stage.tasks.restored_records >= 11
    assert "wiped" in caplog.text
    check_exact(outputs(log, definition), first + second)


@pytest.mark.parametrize("delivery", DELIVERIES)
def test_records_without_a_key_or_with_bad_state_are_dead_lettered(
        log: Log, unique_name: Names, tmp_path: Path, delivery: str) -> None:
    name = unique_name("badrecords")
    definition = totals_pipe(name, delivery, partitions=1).compile()
    ensure_topics(log, definition)
    StageLoop(log, definition, "total", state_dir=tmp_path).tasks.ensure_changelogs()  # type: ignore[union-attr]
    # a value that does not decode, already in the changelog (another writer's bug)
    with log.producer() as producer:
        producer.produce(f"{name}.total.totals.changelog", b"{not json", b"u-bad", partition=0)
        producer.flush()
    data = [{"user": "u1", "amount": 1}, {"user": None, "amount": 2},
            {"user": "u-bad", "amount": 3}, {"user": "u1", "amount": 4}]
    produce(log, definition, data, key=lambda p: p["user"])
    drain(log, definition, tmp_path, len(data))
    letters = [DeadLetter.from_record(r) for r in read_topic(log, definition.stage("total")
                                                            .dlq_topic)]
    assert sorted((letter.offset, letter.error_type) for letter in letters) == [
        (1, "StateDataError"), (2, "StateDataError")]
    assert "record has no key" in letters[0].message
    assert "does not decode" in letters[1].message
    assert [p["n"] for p in outputs(log, definition)["u1"]] == [1, 2]  # the rest flowed


def test_a_changelog_with_the_wrong_partition_count_is_refused(
        log: Log, unique_name: Names, tmp_path: Path) -> None:
    name = unique_name("mismatch")
    definition = totals_pipe(name, "at_least_once").compile()
    ensure_topics(log, definition)
    log.create_topics([TopicSpec(f"{name}.total.totals.changelog", 2, compacted=True)])
    stage = StageLoop(log, definition, "total", state_dir=tmp_path)
    with pytest.raises(ConfigError, match=r"changelog .*totals.changelog with 2 partitions, "
                                          r"but its input .*has 3"):
        stage.run()


def by_account(item: Item) -> str:
    return str(item.payload["account"])


def account_total(item: Item, ctx: Context) -> Any:
    assert ctx.state is not None
    seen = ctx.state.get(0) + 1
    ctx.state.set(seen)
    return {"account": item.payload["account"], "n": seen, "key": item.key}


@pytest.mark.parametrize("delivery", DELIVERIES)
def test_rekey_brings_one_keys_records_to_one_task(log: Log, unique_name: Names,
                                                   tmp_path: Path, delivery: str) -> None:
    name = unique_name("rekey")
    pipe = Pipe(name, partitions=4, delivery=delivery)  # type: ignore[arg-type]
    pipe.rekey("by_account", by_account)
    pipe.local("count", account_total, state=["seen"])
    # keyed by transaction id on input: an account's records are spread over partitions
    data = [{"txn": f"t{n}", "account": n % 5} for n in range(300)]
    result = Runner.run(pipe, data, log=log, namespace=name, keys=lambda p: p["txn"],
                        store_dir=str(tmp_path), timeout=180)
    counts: dict[int, list[int]] = defaultdict(list)
    for item in result["default"]:
        counts[item.payload["account"]].append(item.payload["n"])
        assert item.payload["key"] == str(item.payload["account"])
    assert {account: sorted(ns) for account, ns in counts.items()} == {
        account: list(range(1, 61)) for account in range(5)}
    assert pipe.describe()["stages"][1]["state"] == [
        {"store": "seen", "changelog": f"{name}.count.seen.changelog"}]

