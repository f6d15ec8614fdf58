"""The at_least_once commit strategy on both backends: cadence, failed writes re-read."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import orjson
import pytest

from slither_stream.errors import ProduceError
from slither_stream.item import Item
from slither_stream.log import Log
from slither_stream.log.base import Consumer, DeliveryCallback, Producer
from slither_stream.log.types import Headers, Record, TopicPartition
from slither_stream.pipe import Pipe
from slither_stream.pipe.deploy.runner import ensure_topics
from slither_stream.pipe.engine.commit.at_least_once import AtLeastOnce
from slither_stream.pipe.engine.loop import StageLoop
from slither_stream.pipe.engine.tally import Tally
from slither_stream.pipe.engine.write_buffer import WriteBuffer
from tests.e2e.helpers import read_topic
from tests.pipe.fakes import Planned

Names = Callable[[str], str]


def _poll_all(consumer: Consumer, count: int) -> list[Record]:
    records: list[Record] = []
    for _ in range(200):
        records += consumer.poll_batch(count, 0.5)
        if len(records) >= count:
            break
    assert len(records) == count
    return records


def _tally(*, consumed: int, skipped: int = 0, outputs: dict[str, int] | None = None
           ) -> Tally:
    tally = Tally()
    tally.consumed, tally.skipped, tally.outputs = consumed, skipped, dict(outputs or {})
    return tally


def test_commits_once_commit_records_are_written(log: Log, unique_name: Names) -> None:
    source, sink, group = unique_name("alo-in"), unique_name("alo-out"), unique_name("g")
    log.create_topic(source)
    log.create_topic(sink)
    with log.producer() as producer:
        for n in range(10):
            producer.produce(source, b"%d" % n)
        producer.flush()
    tp = TopicPartition(source, 0)
    tallies: list[Tally] = []
    with log.consumer(group) as consumer, log.producer() as producer:
        consumer.subscribe([source])
        records = _poll_all(consumer, 10)
        writer = AtLeastOnce("s", count=tallies.append, buffer=WriteBuffer(), interval=3600,
                             records=6)
        written = _tally(consumed=5, outputs={"default": 5})
        writer.write(producer, consumer, Planned(
            records[:5], [(sink, r.value, None, ()) for r in records[:5]], written))
        assert not writer.due()  # 5 < 6 records, and the interval is an hour
        assert log.committed_offsets(group, [tp]) == {tp: None}
        assert tallies == [] and writer.uncommitted
        writer.write(producer, consumer, Planned(records[5:], [],
                                                 _tally(consumed=5, skipped=5)))
        assert writer.due()  # 10 >= 6
        writer.commit(producer, consumer)
        assert log.committed_offsets(group, [tp]) == {tp: 10}  # flushed, committed
        assert not writer.uncommitted
        assert len(tallies) == 1
        assert (tallies[0].consumed, tallies[0].skipped, tallies[0].outputs) == (
            10, 5, {"default": 5})
    assert sorted(r.value for r in read_topic(log, sink)) == sorted(
        b"%d" % n for n in range(5))


class _LosingProducer(Producer):
    """The real producer, except that chosen records are lost: not written, and
    reported as failed by the next flush (as a real delivery failure is)."""

    def __init__(self, inner: Producer, lose: set[int]) -> None:
        self.inner = inner
        self.lose = lose
        self.produced = 0
        self.lost = 0
        self._failed = False

    def produce(self, topic: str, value: bytes | None, key: bytes | None = None, *,
                partition: int | None = None,
                headers: Headers | Sequence[tuple[str, bytes]] | None = None,
                timestamp_ms: int | None = None,
                on_delivery: DeliveryCallback | None = None) -> None:
        self.produced += 1
        if self.produced in self.lose:
            self.lost += 1
            self._failed = True
            return
        self.inner.produce(topic, value, key, partition=partition, headers=headers,
                           timestamp_ms=timestamp_ms, on_delivery=on_delivery)

    def flush(self, timeout: float | None = None) -> None:
        self.inner.flush(timeout)
        if self._failed:
            self._failed = False
            raise ProduceError("record was not delivered: injected failure")

    @property
    def transactional(self) -> bool:
        return False

    def begin_transaction(self) -> None:
        raise AssertionError("not transactional")

    def send_offsets_to_transaction(self, consumer: Consumer,
                                    offsets: Mapping[TopicPartition, int]) -> None:
        raise AssertionError("not transactional")

    def commit_transaction(self, timeout: float | None = None) -> None:
        raise AssertionError("not transactional")

    def abort_transaction(self, timeout: float | None = None) -> None:
        raise AssertionError("not transactional")

    def close(self, timeout: float | None = 30.0) -> None:
        self.inner.close(timeout)


def _double(item: Item, _ctx: Any) -> Any:
    return {"n": item.payload["n"]}


def test_failed_writes_are_read_again_nothing_is_lost(
        log: Log, unique_name: Names, monkeypatch: pytest.MonkeyPatch) -> None:
    total = 300
    definition = (Pipe(unique_name("alo"), partitions=2).local("s", _double, batch_size=40)
                  .compile())
    ensure_topics(log, definition)
    with log.producer() as producer:
        for n in range(total):
            producer.produce(definition.input_topic, orjson.dumps({"n": n}), b"k%d" % n)
        producer.flush()
    made: list[_LosingProducer] = []
    real_producer = log.producer

    def losing_producer(**options: Any) -> Producer:
        made.append(_LosingProducer(real_producer(**options), lose={50, 170}))
        return made[-1]

    monkeypatch.setattr(log, "producer", losing_producer)

    def progress(runtime: StageLoop) -> None:
        if runtime.stats.idle and runtime.stats.consumed >= total:
            runtime.stop()

    runtime = StageLoop(log, definition, "s", on_progress=progress, commit_interval=3600,
                           commit_records=120)
    runtime.run()
    monkeypatch.undo()
    assert made and made[0].lost == 2
    outputs = read_topic(log, definition.output_topic("default"))
    counts = Counter(orjson.loads(r.value or b"")["n"] for r in outputs)
    assert set(counts) == set(range(total))  # the lost writes were made again
    assert sum(counts.values()) > total  # by re-reading since the last commit
    partitions = log.partitions_of(definition.input_topic)
    assert log.committed_offsets(definition.stage("s").group, partitions) == \
        log.end_offsets(partitions)


def test_strategy_rejects_bad_cadence() -> None:
    with pytest.raises(ValueError, match="commit records"):
        AtLeastOnce("s", count=lambda _t: None, buffer=WriteBuffer(), interval=1, records=0)
    with pytest.raises(ValueError, match="commit interval"):
        AtLeastOnce("s", count=lambda _t: None, buffer=WriteBuffer(), interval=-1, records=1)
