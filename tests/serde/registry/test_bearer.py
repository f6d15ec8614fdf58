"""Bearer-token auth to a registry, end to end: the session's real Apicurio behind a
gateway that admits only ``Authorization: Bearer <token>`` -- the way registries
behind an OAuth proxy or a cloud API gateway are reached. The registry answers every
call; the gateway only checks the header and forwards, so these tests show that the
token from the config (or the environment) reaches the wire through confluent-kafka's
client, and that a refused token is a clear error that does not show the token."""

from __future__ import annotations

import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import pytest

from slither_stream.serde import (
    RegistryAuthError,
    RegistryAvroSerde,
    RegistryClient,
    RegistryConfig,
)
from tests.serde.registry.conftest import TXN_V1

pytestmark = pytest.mark.registry

TOKEN = "tok-3f9a1c77e0b24d5e"
ROW = {"txn_id": "t-9", "amount": 3.25}


class Gateway:
    """A threaded HTTP gateway in front of ``upstream`` that answers 401 unless the
    request carries ``Authorization: Bearer TOKEN``; it records what it saw."""

    def __init__(self, upstream: str) -> None:
        parts = urlsplit(upstream)
        self.upstream_origin = f"{parts.scheme}://{parts.netloc}"
        self.seen: list[str | None] = []
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass  # keep the test output clean

            def _forward(self) -> None:
                auth = self.headers.get("Authorization")
                gateway.seen.append(auth)
                if auth != f"Bearer {TOKEN}":
                    body = b'{"error_code":401,"message":"Unauthorized"}'
                    self.send_response(401)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                length = int(self.headers.get("Content-Length") or 0)
                data = self.rfile.read(length) if length else None
                request = urllib.request.Request(
                    gateway.upstream_origin + self.path, data=data, method=self.command,
                    headers={k: v for k, v in self.headers.items()
                             if k.lower() in {"content-type", "accept"}})
                try:
                    with urllib.request.urlopen(request, timeout=10) as answer:
                        status, body = answer.status, answer.read()
                        kind = answer.headers.get("Content-Type", "application/json")
                except urllib.error.HTTPError as refused:
                    status, body = refused.code, refused.read()
                    kind = refused.headers.get("Content-Type", "application/json")
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PUT = do_DELETE = _forward  # noqa: N815

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}{parts.path}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def gateway(schema_registry_url: str) -> Iterator[Gateway]:
    started = Gateway(schema_registry_url)
    try:
        yield started
    finally:
        started.close()


def test_the_token_reaches_the_registry_and_serdes_work_through_it(
        gateway: Gateway, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLITHER_SCHEMA_REGISTRY", gateway.url)
    monkeypatch.setenv("SLITHER_SCHEMA_REGISTRY_TOKEN", TOKEN)
    config = RegistryConfig.from_env()
    assert config is not None and config.auth == "bearer token"
    assert TOKEN not in repr(config) and TOKEN not in str(config)
    client = RegistryClient(config)
    client.ensure_reachable()
    topic = f"bearer-{time.monotonic_ns()}"
    writer = RegistryAvroSerde(TXN_V1, client, topic=topic, auto_register=True)
    record = writer.encode(ROW)
    assert record[0] == 0  # Confluent wire format: magic byte, then the registry's id
    reader = RegistryAvroSerde(TXN_V1, RegistryClient(config), topic=topic)
    assert reader.decode(record) == ROW
    assert f"{topic}-value" in client.subjects()
    assert gateway.seen and set(gateway.seen) == {f"Bearer {TOKEN}"}


@pytest.mark.parametrize("token", ["not-the-token", None])
def test_a_refused_or_missing_token_is_a_clear_401(gateway: Gateway,
                                                    token: str | None) -> None:
    config = RegistryConfig(url=gateway.url, bearer_token=token)
    started = time.monotonic()
    with pytest.raises(RegistryAuthError) as caught:
        RegistryClient(config).ensure_reachable()
    assert time.monotonic() - started < 5  # a 401 is not retried
    message = str(caught.value)
    assert caught.value.status == 401 and gateway.url in message
    expected = ("refused the bearer token (HTTP 401" if token
                else "requires credentials (HTTP 401")
    assert expected in message, message
    assert "not-the-token" not in message and TOKEN not in message
    assert gateway.seen[-1] == (f"Bearer {token}" if token else None)
