"""A transactional producer rides out a broker crash (issue 8's broker restart).

A SIGKILLed broker leaves librdkafka's transaction state machine in a fatal state
(the restarted coordinator answers the abort with INVALID_TXN_STATE) or blocked
(send_offsets_to_transaction ignores its timeout when the coordinator went away).
The producer must end the cut transaction atomically (all or nothing: records and
offsets together) and go on committing with the same object, replacing its
librdkafka client if need be. These tests run their own broker, so killing it
disturbs no other test.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from slither_stream.errors import LogError, TransactionError
from slither_stream.log import Log, Record, TopicPartition, TopicSpec, open_log
from slither_stream.log.kafka.producer import KafkaProducer
from tests.kafka_broker import local_broker, start_local_broker, stop_local_broker

pytestmark = pytest.mark.kafka


@pytest.fixture(scope="module")
def crash_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """A broker of this module alone: (bootstrap, data dir). A test that kills it
    starts it again, so the next test reuses it."""
    data = tmp_path_factory.mktemp("producer-recovery") / "broker"
    with local_broker(data, fast_start=True, kill=True) as bootstrap:
        yield bootstrap, data


def _committed_records(log: Log, topic: str, group: str) -> list[Record]:
    """Every committed record of partition 0 (read_committed), up to the end."""
    tp = TopicPartition(topic, 0)
    end = log.end_offsets([tp])[tp]
    records: list[Record] = []
    with log.consumer(group) as consumer:
        consumer.assign([(tp, 0)])
        while not records or records[-1].offset + 1 < end:
            batch = consumer.poll_batch(100, 5.0)
            if not batch:
                break
            records += batch
    return records


def test_a_transaction_cut_by_a_broker_crash_ends_atomically_and_the_producer_goes_on(
        crash_broker: tuple[str, Path], unique_name: Callable[[str], str],
        caplog: pytest.LogCaptureFixture) -> None:
    bootstrap, data = crash_broker
    port = int(bootstrap.rsplit(":", 1)[1])
    source, sink, group = unique_name("rec-in"), unique_name("rec-out"), unique_name("rec-g")
    source_tp = TopicPartition(source, 0)
    caplog.set_level(logging.WARNING, logger="slither_stream.log.kafka")
    with open_log(f"kafka://{bootstrap}", timeout=5) as log:
        log.create_topics([TopicSpec(source, 1), TopicSpec(sink, 1)])
        with log.producer() as plain:
            for value in (b"a", b"b", b"c"):
                plain.produce(source, value)
            plain.flush(30)
        consumer = log.consumer(group)
        producer = log.producer(transactional_id=unique_name("rec-tx"))
        assert isinstance(producer, KafkaProducer)
        try:
            consumer.assign([(source_tp, 0)])
            inputs: list[Record] = []
            while len(inputs) < 3:
                inputs += consumer.poll_batch(10, 5.0)
            producer.begin_transaction()
            producer.produce(sink, b"cut")
            producer.flush(30)  # the record is in the log when the broker dies
            stop_local_broker(data, kill=True)
            # The broker restarts meanwhile (as a supervised broker would), so the
            # producer's recovery overlaps the restart instead of timing out first.
            restarted: list[str] = []
            restart = threading.Thread(
                target=lambda: restarted.append(
                    start_local_broker(data, port=port, fast_start=True)),
                name="test-broker-restart")
            restart.start()
            try:
                # Adding the offsets needs the coordinator, which is gone: the call
                # fails (or hangs past its timeout and is abandoned): the
                # transaction is cut.
                with pytest.raises(LogError):
                    producer.send_offsets_to_transaction(consumer, {source_tp: 1})
            finally:
                restart.join()
            assert restarted == [bootstrap]
            producer.abort_transaction()
            # The same producer object carries on; a fatal client state would make
            # this raise TransactionError without the client replacement.
            for attempt in range(3):
                try:
                    producer.begin_transaction()
                    producer.produce(sink, b"next")
                    producer.send_offsets_to_transaction(consumer, {source_tp: 3})
                    producer.commit_transaction(timeout=30)
                    break
                except TransactionError:
                    producer.abort_transaction()
                    if attempt == 2:
                        raise
        finally:
            producer.close()
            consumer.close()
    with open_log(f"kafka://{bootstrap}", timeout=30) as fresh:  # no pre-crash metadata
        values = [r.value for r in _committed_records(fresh, sink, unique_name("check"))]
        assert values == [b"next"]
        assert fresh.committed_offsets(group, [source_tp]) == {source_tp: 3}
    print(f"client replacements: {producer.replacements}")


def test_a_fenced_producer_stays_stopped_instead_of_replacing_its_client(
        crash_broker: tuple[str, Path], unique_name: Callable[[str], str]) -> None:
    """Fencing means another live instance owns the transactional id: a zombie must
    not come back by building a new client (that would fence the live one)."""
    bootstrap, _data = crash_broker
    sink, txid = unique_name("fence-out"), unique_name("fence-tx")
    with open_log(f"kafka://{bootstrap}", timeout=5) as log:
        log.create_topics([TopicSpec(sink, 1)])
        zombie = log.producer(transactional_id=txid)
        assert isinstance(zombie, KafkaProducer)
        try:
            zombie.begin_transaction()
            zombie.produce(sink, b"zombie")
            with log.producer(transactional_id=txid) as live:
                with pytest.raises(TransactionError, match="fenced"):
                    zombie.commit_transaction(timeout=30)
                zombie.abort_transaction()
                with pytest.raises(TransactionError, match="must stop"):
                    zombie.begin_transaction()
                assert zombie.replacements == 0
                live.begin_transaction()
                live.produce(sink, b"live")
                live.commit_transaction(timeout=30)
        finally:
            zombie.close()
        assert [r.value for r in _committed_records(log, sink, unique_name("c"))] == [b"live"]
