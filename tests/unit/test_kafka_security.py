"""Client security settings without a broker: sources, checks, redaction, ACL lists."""

from __future__ import annotations

import logging
import uuid
from pathlib import Path

import orjson
import pytest
from confluent_kafka import KafkaError

from slither_stream.errors import ConfigError
from slither_stream.log import open_log
from slither_stream.log._secrets import REDACTED, redact_config, redact_url, remember, scrub
from slither_stream.log.kafka._config import settings_from_options
from slither_stream.log.kafka._errors import authentication_error, authorization_error
from slither_stream.log.kafka._properties import (
    ENV_PROPERTIES,
    configured_properties,
    principal,
    read_properties_file,
)
from slither_stream.log.types import Access
from slither_stream.pipe import Pipe
from slither_stream.pipe.access import acl_rows, kafka_acls_command, required_access
from tests.cli.helpers import assert_one_line_error, json_lines, slither


def _secret() -> str:
    return f"s3cret-{uuid.uuid4().hex}"


def test_properties_file_reads_kafka_tools_syntax(tmp_path: Path) -> None:
    path = tmp_path / "client.properties"
    path.write_text("# comment\n! also a comment\n\nsecurity.protocol=SASL_SSL\n"
                    "sasl.mechanism: SCRAM-SHA-512\nsasl.username = alice\n"
                    "sasl.password=a=b:c\nssl.endpoint.identification.algorithm=\\\nhttps\n")
    assert read_properties_file(path) == {
        "security.protocol": "SASL_SSL", "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.username": "alice", "sasl.password": "a=b:c",
        "ssl.endpoint.identification.algorithm": "https"}


@pytest.mark.parametrize(("line", "message"), [
    ("sasl.jaas.config=org.apache...ScramLoginModule required password=\"x\";",
     "Java client property .* use sasl.username and sasl.password"),
    ("ssl.truststore.location=/x.jks", "use ssl.ca.location"),
    ("bootstrap.servers=b:9092", "comes from the log URL"),
    ("just-a-word-secret", "expected name=value"),
])
def test_properties_file_mistakes_name_file_and_line_not_value(
        tmp_path: Path, line: str, message: str) -> None:
    path = tmp_path / "client.properties"
    path.write_text(f"security.protocol=SSL\n{line}\n")
    with pytest.raises(ConfigError, match=message) as caught:
        read_properties_file(path)
    assert f"{path}:2" in str(caught.value)
    assert "x.jks" not in str(caught.value) and "just-a-word" not in str(caught.value)


def test_environment_overrides_the_file_and_the_file_comes_from_the_env(
        tmp_path: Path) -> None:
    path = tmp_path / "client.properties"
    path.write_text("sasl.username=alice\nsasl.password=from-file\n")
    env = {"SLITHER_KAFKA_CONFIG": str(path), "SLITHER_KAFKA_SASL_PASSWORD": "from-env"}
    assert configured_properties(None, env) == {"sasl.username": "alice",
                                                "sasl.password": "from-env"}
    assert set(ENV_PROPERTIES.values()) >= {"sasl.password", "ssl.ca.location",
                                            "ssl.key.password", "security.protocol"}


def test_settings_merge_file_env_and_config_and_check_files(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = _secret()
    path = tmp_path / "client.properties"
    path.write_text(f"security.protocol=SASL_SSL\nsasl.mechanism=PLAIN\nsasl.username=bob\n"
                    f"sasl.password={secret}\nlinger.ms=1\n")
    monkeypatch.setenv("SLITHER_KAFKA_SASL_USERNAME", "carol")
    settings = settings_from_options("127.0.0.1:9093", {"kafka_config": str(path),
                                                        "config": {"linger.ms": "7"}})
    assert settings.config["sasl.username"] == "carol"
    assert settings.config["linger.ms"] == "7"  # code and URL over the file
    assert settings.principal == "User:carol" and settings.mechanism == "PLAIN"
    assert secret not in repr(settings) and secret not in str(settings.describe())
    assert settings.describe()["config"]["sasl.password"] == REDACTED
    path.write_text(f"ssl.ca.location={tmp_path / 'missing.pem'}\n")
    with pytest.raises(ConfigError, match=r"ssl.ca.location: no such file .*missing.pem"):
        settings_from_options("127.0.0.1:9093", {"kafka_config": str(path)})


def test_the_embedded_log_ignores_kafka_config(tmp_path: Path) -> None:
    with open_log(f"embedded://{tmp_path / 'log'}", kafka_config="/nowhere") as log:
        log.check_access([Access("TOPIC", "t", "READ")])  # no access control: allowed


def test_redaction_of_urls_configs_texts_and_log_records(
        caplog: pytest.LogCaptureFixture) -> None:
    secret = _secret()
    url = f"kafka://b:9093?sasl.username=u&sasl.password={secret}&linger.ms=5"
    shown = redact_url(url)
    assert secret not in shown and "sasl.username=u" in shown and "linger.ms=5" in shown
    for plain in ("embedded:///tmp/log", "kafka://b:9092?linger.ms=5", "kafka://u@b:9092"):
        assert redact_url(plain) == plain  # nothing secret: shown as the user wrote it
    assert redact_config({"ssl.key.password": secret, "acks": "all"}) == {
        "ssl.key.password": REDACTED, "acks": "all"}
    remember({"sasl.oauthbearer.client.secret": secret})
    assert scrub(f"failed with {secret}!") == f"failed with {REDACTED}!"
    with caplog.at_level(logging.INFO, logger="test.secrets"):
        logging.getLogger("test.secrets").info("token %s leaked", secret)
        try:
            raise ValueError(f"boom {secret}")
        except ValueError:
            logging.getLogger("test.secrets").exception("oops")
    assert secret not in caplog.text and REDACTED in caplog.text


def test_principal_of_each_mechanism() -> None:
    assert principal({}) == "User:ANONYMOUS"
    assert principal({"security.protocol": "SASL_SSL", "sasl.mechanism": "SCRAM-SHA-256",
                      "sasl.username": "ann"}) == "User:ann"
    assert "OAUTHBEARER" in principal({"security.protocol": "SASL_SSL",
                                       "sasl.mechanism": "OAUTHBEARER"})
    oauth = {"security.protocol": "SASL_SSL", "sasl.mechanism": "OAUTHBEARER",
             "sasl.oauthbearer.config": "principal=svc-1 scope=all"}
    assert "OAUTHBEARER" in principal(oauth)  # a real token: its subject is unknown here
    assert principal({**oauth, "enable.sasl.oauthbearer.unsecure.jwt": "true"}) == "User:svc-1"


@pytest.mark.parametrize(("code", "text", "cause"), [
    (KafkaError._AUTHENTICATION, "sasl_ssl://h:9093/bootstrap: SASL authentication error: "
     "Authentication failed during authentication due to invalid credentials",
     "the broker rejected the username or password"),
    (KafkaError._SSL, "ssl://h:9093/1: SSL handshake failed: certificate verify failed",
     "the broker's certificate is not trusted"),
    (KafkaError._TRANSPORT, "sasl_ssl://h:9093/bootstrap: Receive failed: SSL routines::"
     "ssl/tls alert certificate unknown: SSL alert number 46",
     "the broker rejected the client certificate"),
])
def test_authentication_errors_name_broker_mechanism_and_cause(
        code: int, text: str, cause: str) -> None:
    error = authentication_error(KafkaError(code, text), bootstrap="h:9093",
                                 mechanism="SCRAM-SHA-512")
    assert error is not None
    assert error.broker.endswith("://h:9093") and error.mechanism == "SCRAM-SHA-512"
    assert error.cause.startswith(cause) and cause in str(error)
    assert authentication_error(KafkaError(KafkaError._TRANSPORT, "Connection refused"),
                                bootstrap="h:9093", mechanism="PLAIN") is None


def test_authorization_errors_name_principal_resource_and_operation() -> None:
    error = authorization_error(
        KafkaError(KafkaError.TOPIC_AUTHORIZATION_FAILED, "Topic authorization failed"),
        principal="User:ann", needed={"TOPIC": ("p.out.default", "WRITE")})
    assert error is not None
    assert (error.principal, error.resource_type, error.resource, error.operation) == (
        "User:ann", "TOPIC", "p.out.default", "WRITE")
    assert "User:ann may not WRITE TOPIC 'p.out.default'" in str(error)


def _eos_pipe() -> Pipe:
    pipe = Pipe("acl", partitions=2, delivery="exactly_once")
    pipe.local("count", lambda item, ctx: item.payload, state=["counts"])
    pipe.local("emit", lambda item, ctx: item.payload)
    pipe.outputs("alerts")
    return pipe


def test_required_access_follows_the_definition() -> None:
    definition = _eos_pipe().compile().with_namespace("ns")
    found = {(a.resource_type, a.pattern, a.name, a.operation)
             for a in required_access(definition)}
    assert {
        ("TOPIC", "LITERAL", "ns.count.in", "READ"),
        ("GROUP", "LITERAL", "ns.count", "READ"),
        ("TOPIC", "LITERAL", "ns.emit.in", "WRITE"),
        ("TOPIC", "LITERAL", "ns.count.dlq", "WRITE"),
        ("TOPIC", "LITERAL", "ns.out.alerts", "WRITE"),
        ("TOPIC", "LITERAL", "ns.count.counts.changelog", "WRITE"),
        ("TOPIC", "LITERAL", "ns.count.counts.changelog", "READ"),
        ("GROUP", "PREFIXED", "ns.count.", "READ"),
        ("TRANSACTIONAL_ID", "PREFIXED", "ns.count.", "WRITE"),
        ("TRANSACTIONAL_ID", "PREFIXED", "ns.emit.", "WRITE"),
        ("GROUP", "LITERAL", "ns.emit", "DESCRIBE"),
        ("TOPIC", "PREFIXED", "ns.", "CREATE"),
    } <= found
    alos = Pipe("acl", partitions=2).local("x", lambda item, ctx: item.payload).compile()
    assert not any(a.resource_type == "TRANSACTIONAL_ID" for a in required_access(alos))
    rows = acl_rows(required_access(definition))
    emit_in = next(row for row in rows if row.name == "ns.emit.in")
    assert emit_in.operations == ("READ", "WRITE")  # DESCRIBE folded into them
    command = kafka_acls_command(next(r for r in rows if r.resource_type ==
                                      "TRANSACTIONAL_ID"), "User:ann")
    assert "--transactional-id 'ns.count.' --resource-pattern-type prefixed" in command


def test_describe_acls_cli(tmp_path: Path) -> None:
    secret = _secret()
    config = tmp_path / "client.properties"
    config.write_text(f"security.protocol=SASL_SSL\nsasl.mechanism=SCRAM-SHA-512\n"
                      f"sasl.username=scorer\nsasl.password={secret}\n")
    text = slither("describe", "topologies/scoring.py", "--acls", "--kafka-config", str(config))
    assert text.returncode == 0, text.stderr
    assert "principal User:scorer" in text.stdout and secret not in text.stdout + text.stderr
    assert "--operation READ --topic 'scoring.enrich.in'" in text.stdout
    assert "TRANSACTIONAL_ID PREFIXED scoring.features.owner-" in text.stdout
    as_json = slither("describe", "topologies/scoring.py", "--acls", "--format", "json",
                      "--principal", "User:x")
    rows = json_lines(as_json.stdout)
    assert {"principal": "User:x", "resource_type": "GROUP", "pattern": "LITERAL",
            "name": "scoring.score", "operations": ["READ"]}.items() <= {
        **next(r for r in rows if r["name"] == "scoring.score" and
               r["resource_type"] == "GROUP")}.items()
    assert orjson.dumps(rows)  # plain JSON
    missing = slither("topics", "list", "--log", "kafka://127.0.0.1:9",
                      "--kafka-config", str(tmp_path / "nope.properties"))
    assert_one_line_error(missing, 2, "--kafka-config")
