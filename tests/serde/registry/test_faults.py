"""Registry faults with real processes: unreachable at start, lost while running,
wrong credentials, TLS. Each module-scoped registry here is its own Apicurio
(docker/registry-local), so stopping one disturbs no other test."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka.schema_registry import Schema

from slither_stream.errors import SerializationError
from slither_stream.serde import (
    RegistryAuthError,
    RegistryAvroSerde,
    RegistryClient,
    RegistryConfig,
    RegistryError,
    RegistryUnavailableError,
)
from tests.registry_server import start_local_registry, stop_local_registry
from tests.serde.registry.conftest import TXN_V1, TXN_V2

pytestmark = pytest.mark.registry

ROW = {"txn_id": "t-1", "amount": 12.5}
SECRET = "n0t-f0r-l0gs"


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_unreachable_at_start_is_a_clear_error_after_a_bounded_retry() -> None:
    url = f"http://127.0.0.1:{closed_port()}/apis/ccompat/v7"
    client = RegistryClient(RegistryConfig(url=f"http://bob:{SECRET}@{url[7:]}",
                                           connect_timeout=1.5))
    started = time.monotonic()
    with pytest.raises(RegistryUnavailableError) as caught:
        client.ensure_reachable()
    elapsed = time.monotonic() - started
    message = str(caught.value)
    assert 0.5 < elapsed < 4.0, elapsed
    assert f"schema registry {url} is unreachable" in message
    assert "attempts over" in message and "Connection refused" in message
    assert SECRET not in message and "bob" not in message


@pytest.fixture(scope="module")
def restartable(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    """A registry that keeps its schemas in an H2 file, so it can be stopped and
    restarted on the same port with the same ids."""
    data = tmp_path_factory.mktemp("registry-restartable")
    url = start_local_registry(data, persist=True)
    try:
        yield data, url
    finally:
        stop_local_registry(data)


def test_registry_lost_while_running(restartable: tuple[Path, str]) -> None:
    """Cached schemas keep decoding through the outage; a new id waits (retrying with
    backoff) until the registry is back, then decodes: nothing is lost."""
    data, url = restartable
    config = RegistryConfig(url=url, connect_timeout=5.0, outage_timeout=90.0)
    client = RegistryClient(config)
    subject = "lost-value"
    client.register(subject, Schema(json.dumps(TXN_V1), "AVRO"))
    writer = RegistryAvroSerde(TXN_V1, client, topic="lost")
    old = writer.encode(ROW)
    new_id = client.register(subject, Schema(json.dumps(TXN_V2), "AVRO"))
    evolved = RegistryAvroSerde(TXN_V2, client, topic="lost")
    new = evolved.encode({**ROW, "currency": "USD"})
    assert new[1:5] == new_id.to_bytes(4, "big")

    reader = RegistryAvroSerde(TXN_V1, RegistryClient(config), topic="lost")
    assert reader.decode(old) == ROW  # id of v1 cached
    stop_local_registry(data, kill=True)
    try:
        for _ in range(100):
            assert reader.decode(old) == ROW  # cached: no registry needed
        result: list[object] = []
        waiting = threading.Thread(target=lambda: result.append(reader.decode(new)),
                                   name="test-new-id-during-outage")
        waiting.start()
        waiting.join(1.5)
        assert waiting.is_alive() and not result  # retrying, not dead-lettered
    finally:
        start_local_registry(data, persist=True)
    waiting.join(30)
    assert result == [ROW]


def test_an_outage_longer_than_the_budget_stops_with_an_error_not_a_dead_letter(
        restartable: tuple[Path, str]) -> None:
    data, url = restartable
    client = RegistryClient(RegistryConfig(url=url, outage_timeout=1.0))
    new_id = client.register("budget-value", Schema(json.dumps(TXN_V1), "AVRO"))
    reader = RegistryAvroSerde(TXN_V1, RegistryClient(RegistryConfig(
        url=url, outage_timeout=1.0)), topic="budget")
    record = b"\x00" + new_id.to_bytes(4, "big") + b"\x06t-1" + b"\x00" * 8
    stop_local_registry(data)
    try:
        with pytest.raises(RegistryUnavailableError, match="cannot fetch schema id") as caught:
            reader.decode(record)
        assert not isinstance(caught.value, SerializationError)
    finally:
        start_local_registry(data, persist=True)
    assert reader.decode(record) == {"txn_id": "t-1", "amount": 0.0}


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """A registry behind HTTPS (self-signed CA) and Quarkus basic auth."""
    data = tmp_path_factory.mktemp("registry-secured")
    url = start_local_registry(data, user=f"alice:{SECRET}", tls=True)
    try:
        yield url, data / "tls" / "ca.pem"
    finally:
        stop_local_registry(data)


def test_basic_auth_over_tls(secured: tuple[str, Path]) -> None:
    url, ca = secured
    client = RegistryClient(RegistryConfig(url=url, user_info=f"alice:{SECRET}",
                                           ca_location=str(ca)))
    client.ensure_reachable()
    serde = RegistryAvroSerde(TXN_V1, client, topic="secure", auto_register=True)
    assert serde.decode(serde.encode(ROW)) == ROW
    # The same credentials as URL userinfo: taken out of the URL, never shown.
    inline = RegistryConfig(url=url.replace("https://", f"https://alice:{SECRET}@"),
                            ca_location=str(ca))
    assert SECRET not in inline.display_url
    assert RegistryClient(inline).subjects() == ["secure-value"]


@pytest.mark.parametrize("user_info, fragment", [
    ("alice:wrong-password", "refused the credentials of user 'alice' (HTTP 401"),
    (None, "requires credentials (HTTP 401"),
])
def test_wrong_credentials_name_the_registry_not_the_secret(
        secured: tuple[str, Path], user_info: str | None, fragment: str) -> None:
    url, ca = secured
    config = RegistryConfig(url=url, user_info=user_info, ca_location=str(ca))
    started = time.monotonic()
    with pytest.raises(RegistryAuthError) as caught:
        RegistryClient(config).ensure_reachable()
    assert time.monotonic() - started < 5  # a 401 is not retried
    message = str(caught.value)
    assert fragment in message and url in message
    assert "wrong-password" not in message and SECRET not in message
    assert caught.value.status == 401


def test_an_untrusted_certificate_is_named(secured: tuple[str, Path]) -> None:
    url, _ca = secured
    with pytest.raises(RegistryError, match="TLS certificate is not trusted") as caught:
        RegistryClient(RegistryConfig(url=url, user_info=f"alice:{SECRET}")).ensure_reachable()
    assert "ca_location" in str(caught.value) and SECRET not in str(caught.value)
