"""Repeated Kafka client log lines are folded: the first of a kind is logged, the
repeats within the window are counted and reported with the next line let through."""

from __future__ import annotations

import logging

import pytest

from slither_stream.log.kafka._config import CLIENT_LOGGER, ClientLog, KafkaSettings
from slither_stream.log.kafka._repeats import RepeatFilter


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _record(text: str, *args: object, level: int = logging.WARNING) -> logging.LogRecord:
    return logging.LogRecord("slither_stream.log.kafka.client", level, __file__, 1, text,
                             args or None, None)


FAIL = "%s [%s] %s"


def test_repeats_within_the_window_are_dropped_and_counted() -> None:
    clock = Clock()
    folded = RepeatFilter(10.0, clock=clock)
    first = _record(FAIL, "FAIL", "rdkafka#consumer-6",
                    "127.0.0.1:43613/bootstrap: Connect failed (after 0ms in state CONNECT)")
    assert folded.filter(first)
    assert first.getMessage().endswith("(after 0ms in state CONNECT)")
    for delay in range(1, 4):  # other durations, same kind
        clock.now += 2.0
        assert not folded.filter(_record(
            FAIL, "FAIL", "rdkafka#consumer-6",
            f"127.0.0.1:43613/bootstrap: Connect failed (after {delay}ms in state CONNECT)"))
    clock.now += 4.5  # 10.5 s after the first was logged
    after = _record(FAIL, "FAIL", "rdkafka#consumer-6",
                    "127.0.0.1:43613/bootstrap: Connect failed (after 8ms in state CONNECT)")
    assert folded.filter(after)
    assert after.getMessage() == (
        "FAIL [rdkafka#consumer-6] 127.0.0.1:43613/bootstrap: Connect failed (after 8ms in "
        "state CONNECT) (3 more like this in the 10 s before were not logged)")
    clock.now += 10.0
    quiet = _record("Kafka producer error: %s: %s", "_TRANSPORT", "down")
    assert folded.filter(quiet)
    assert "more like this" not in quiet.getMessage()


def test_other_clients_levels_and_texts_are_other_kinds() -> None:
    folded = RepeatFilter(10.0, clock=Clock())
    assert folded.filter(_record("Kafka consumer error (group %s): %s", "g1", "1/1 brokers down"))
    assert not folded.filter(_record("Kafka consumer error (group %s): %s", "g1",
                                     "0/2 brokers down"))
    assert folded.filter(_record("Kafka consumer error (group %s): %s", "g2", "1/1 brokers down"))
    assert folded.filter(_record(FAIL, "FAIL", "rdkafka#consumer-6", "down"))
    assert folded.filter(_record(FAIL, "FAIL", "rdkafka#consumer-7", "down"))
    assert folded.filter(_record(FAIL, "FAIL", "rdkafka#consumer-7", "down",
                                 level=logging.ERROR))


def test_it_remembers_a_bounded_number_of_kinds() -> None:
    clock = Clock()
    folded = RepeatFilter(10.0, clock=clock, max_kinds=3)
    for name in ("a", "b", "c", "d"):
        assert folded.filter(_record("%s", name))
    assert len(folded._kinds) <= 3
    with pytest.raises(ValueError, match="window"):
        RepeatFilter(-1.0)


def test_the_clients_log_through_the_folding_logger(caplog: pytest.LogCaptureFixture) -> None:
    client_log = KafkaSettings("127.0.0.1:9").client_config()["logger"]
    assert isinstance(client_log, ClientLog)
    caplog.set_level(logging.WARNING, logger=CLIENT_LOGGER.name)
    for _ in range(5):
        client_log.log(logging.WARNING, "%s [%s] %s", "FAIL", "rdkafka#producer-1",
                       "test_the_clients_log_through_the_folding_logger")
    mine = [r for r in caplog.records
            if "test_the_clients_log_through_the_folding_logger" in r.getMessage()]
    assert len(mine) == 1


def _scope_warning(name: str) -> tuple[str, ...]:
    return ("CONFWARN", "rdkafka#producer-2",
            f"[thrd:app]: Configuration property {name} is a consumer property and will "
            "be ignored by this producer instance")


def test_a_log_wide_property_the_client_ignores_is_not_warned_about(
        caplog: pytest.LogCaptureFixture) -> None:
    settings = KafkaSettings("127.0.0.1:9", config={"session.timeout.ms": 3000})
    client_log = settings.client_config()["logger"]
    caplog.set_level(logging.WARNING, logger=CLIENT_LOGGER.name)
    client_log.log(logging.WARNING, "%s [%s] %s", *_scope_warning("session.timeout.ms"))
    # given to this client alone (not log-wide): librdkafka's warning stays
    client_log.log(logging.WARNING, "%s [%s] %s", *_scope_warning("fetch.min.bytes"))
    scope = [r.getMessage() for r in caplog.records if "Configuration property" in r.getMessage()]
    assert len(scope) == 1 and "fetch.min.bytes" in scope[0], scope
