"""``delivery_reports="errors"``: callbacks for failures only, flush confirms (both backends)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from slither_stream.errors import ConfigError
from slither_stream.log import Log, RecordMetadata
from tests.contract.helpers import read_all

Namer = Callable[[str], str]


def test_errors_only_producer_reports_no_successes(log: Log, unique_name: Namer) -> None:
    topic = unique_name("errors-only")
    log.create_topic(topic, 2)
    reports: list[tuple[Exception | None, RecordMetadata | None]] = []
    with log.producer(delivery_reports="errors") as producer:
        for n in range(20):
            producer.produce(topic, b"%d" % n, b"k%d" % n,
                             on_delivery=lambda error, meta: reports.append((error, meta)))
        producer.flush()
        assert reports == []  # delivered: nothing reported, the flush confirmed them
    assert sorted(int(r.value or b"") for r in read_all(log, topic)) == list(range(20))
    with log.producer(delivery_reports="all") as producer:  # the default, spelt out
        producer.produce(topic, b"x", on_delivery=lambda error, meta: reports.append(
            (error, meta)))
        producer.flush()
    assert len(reports) == 1 and reports[0][0] is None and reports[0][1] is not None


def test_errors_only_producer_refuses_send_and_bad_values(log: Log, unique_name: Namer) -> None:
    topic = unique_name("errors-only-send")
    log.create_topic(topic)
    with log.producer(delivery_reports="errors") as producer, \
            pytest.raises(ConfigError, match="delivery_reports"):
        producer.send(topic, b"v")
    with pytest.raises(ConfigError, match="delivery_reports"):
        log.producer(delivery_reports="some")
