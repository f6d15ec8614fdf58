"""librdkafka settings the contract depends on, and validation of options (no broker)."""

from __future__ import annotations

import pytest

from slither_stream.errors import ConfigError
from slither_stream.log import open_log
from slither_stream.log.kafka._config import KafkaSettings, parse_bootstrap, settings_from_options


def test_producer_is_idempotent_and_uses_the_java_partitioner() -> None:
    conf = KafkaSettings("127.0.0.1:9092").producer_config(None, None)
    assert conf["enable.idempotence"] is True
    assert conf["acks"] == "all"
    assert conf["partitioner"] == "murmur2_random"
    assert "transactional.id" not in conf


def test_transactional_id_is_passed_through() -> None:
    conf = KafkaSettings("127.0.0.1:9092").producer_config({"linger.ms": 50}, "tx-1")
    assert conf["transactional.id"] == "tx-1"
    assert conf["linger.ms"] == 50


def test_consumer_reads_committed_commits_manually_and_rebalances_incrementally() -> None:
    conf = KafkaSettings("127.0.0.1:9092").consumer_config("g", "latest", None)
    assert conf["group.id"] == "g"
    assert conf["enable.auto.commit"] is False
    assert conf["isolation.level"] == "read_committed"
    assert conf["partition.assignment.strategy"] == "cooperative-sticky"
    assert conf["auto.offset.reset"] == "latest"


@pytest.mark.parametrize("name", ["enable.idempotence", "partitioner", "transactional.id"])
def test_contract_producer_settings_cannot_be_overridden(name: str) -> None:
    with pytest.raises(ConfigError, match=name):
        KafkaSettings("127.0.0.1:9092").producer_config({name: "x"}, None)


@pytest.mark.parametrize("name", ["isolation.level", "enable.auto.commit", "group.id"])
def test_contract_consumer_settings_cannot_be_overridden(name: str) -> None:
    with pytest.raises(ConfigError, match=name):
        KafkaSettings("127.0.0.1:9092").consumer_config("g", "earliest", {name: "x"})


def test_bad_offset_reset_and_group_are_rejected() -> None:
    settings = KafkaSettings("127.0.0.1:9092")
    with pytest.raises(ConfigError, match="auto_offset_reset"):
        settings.consumer_config("g", "smallest", None)
    with pytest.raises(ConfigError, match="group"):
        settings.consumer_config("", "earliest", None)


def test_bootstrap_list_is_normalised() -> None:
    assert parse_bootstrap(" a:1 , b.example:9092,[::1]:9093") == "a:1,b.example:9092,[::1]:9093"


@pytest.mark.parametrize("servers", ["", "host", "host:", "host:99999", "host:abc", "a:1,,b:2"])
def test_bad_bootstrap_servers_raise_config_error(servers: str) -> None:
    with pytest.raises(ConfigError):
        parse_bootstrap(servers)


@pytest.mark.parametrize("url", ["kafka://", "kafka://host-without-port", "kafka://h:1/path",
                                 "kafka://h:0"])
def test_bad_kafka_urls_fail_at_once(url: str) -> None:
    with pytest.raises(ConfigError):
        open_log(url)


def test_unknown_log_options_are_named() -> None:
    with pytest.raises(ConfigError, match="linger"):
        settings_from_options("h:1", {"linger": 5})
    with pytest.raises(ConfigError, match="timeout"):
        settings_from_options("h:1", {"timeout": 0})


def test_unknown_librdkafka_property_is_a_config_error_before_connecting() -> None:
    with pytest.raises(ConfigError, match=r"no\.such\.property"):
        open_log("kafka://127.0.0.1:1", config={"no.such.property": "1"})


def test_url_query_properties_are_checked_before_connecting() -> None:
    with pytest.raises(ConfigError, match=r"no\.such\.property"):
        open_log("kafka://127.0.0.1:1?no.such.property=1")
    for fixed in ("bootstrap.servers=elsewhere:9092", "isolation.level=read_uncommitted",
                  "acks=1", "group.id=g"):
        with pytest.raises(ConfigError, match="cannot be overridden"):
            open_log(f"kafka://127.0.0.1:1?{fixed}")
    with pytest.raises(ConfigError, match=r"'linger\.ms' has no value"):
        open_log("kafka://127.0.0.1:1?linger.ms=")
    with pytest.raises(ConfigError, match="name=value pairs"):
        open_log("kafka://127.0.0.1:1?linger.ms")


@pytest.mark.kafka
def test_url_query_properties_reach_the_clients(kafka_bootstrap: str) -> None:
    url = f"kafka://{kafka_bootstrap}?session.timeout.ms=6000&linger.ms=1"
    with open_log(url, config={"linger.ms": 2}) as log:
        settings = log._settings  # type: ignore[attr-defined]
        assert settings.config == {"session.timeout.ms": "6000", "linger.ms": 2}
        assert settings.consumer_config("g", "earliest", None)["session.timeout.ms"] == "6000"
        assert log.url == url
