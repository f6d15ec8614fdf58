"""The worker's HTTP endpoint: ``/metrics``, ``/healthz``, ``/livez`` and added routes.

- ``/metrics`` - the Prometheus text format of one :class:`MetricsRegistry`.
- ``/healthz`` - 503 with the pending conditions until the :class:`Readiness` says
  ready, then 200. Orchestrators route traffic and rolling restarts on it.
- ``/livez`` - always 200 while the process serves HTTP at all.
- a path under a prefix given to :meth:`MetricsServer.add_route` - whatever that
  :data:`Route` replies (a worker adds ``/state`` for interactive queries, see
  :mod:`slither_stream.pipe.query`). A route that raises gets a 500 with the error.

The server is the standard library's ``HTTPServer`` driven by one named daemon
thread owned by :class:`MetricsServer`; ``stop()`` shuts it down and joins the
thread. Requests are served one at a time and one per connection (a scrape is a
few kilobytes), with a socket timeout so that a stalled client cannot hold the
endpoint. It binds 127.0.0.1 unless told otherwise.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, HTTPServer
from types import TracebackType
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST

from slither_stream.errors import ConfigError
from slither_stream.observability.federation import (
    Members,
    federated_exposition,
    pending_members,
)
from slither_stream.observability.health import Readiness
from slither_stream.observability.metrics import MetricsRegistry

_log = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
REQUEST_TIMEOUT_SECONDS = 5.0


@dataclass(frozen=True)
class HttpReply:
    """What a :data:`Route` answers: status, body, content type, extra headers."""

    status: int
    body: bytes
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = ()

    @classmethod
    def json(cls, status: int, value: Any,
             headers: tuple[tuple[str, str], ...] = ()) -> HttpReply:
        """``value`` as a JSON body."""
        return cls(status, json.dumps(value).encode() + b"\n", "application/json", headers)


Route = Callable[[str, str], HttpReply]
"""``route(path, query)``: the reply to a GET of ``path`` (still percent-encoded)
with query string ``query`` (without the ``?``). Called on the server's thread."""


class _Handler(BaseHTTPRequestHandler):
    """Routes the three paths; the server object carries metrics and readiness."""

    server: _ObservabilityHTTPServer
    timeout = REQUEST_TIMEOUT_SECONDS
    # HTTP/1.0: one request per connection. With keep-alive, a scraper holding its
    # connection open would block this single-threaded server for other clients.
    protocol_version = "HTTP/1.0"

    def do_GET(self) -> None:
        path, _, query = self.path.partition("?")
        server = self.server
        route = server.route_for(path)
        if route is not None:
            self._serve_route(route, path, query)
            return
        if path == "/metrics":
            if server.members is None:
                body = server.metrics.exposition()
            else:
                body = federated_exposition(server.metrics.registry,
                                            server.readiness.is_ready(),
                                            server.members.snapshot())
            self._reply(200, CONTENT_TYPE_LATEST, body)
        elif path == "/healthz":
            readiness = server.readiness
            pending = [] if readiness.is_ready() else readiness.pending()
            if server.members is not None:
                pending += pending_members(server.members.snapshot())
            answer = {"ready": not pending, "pending": pending}
            self._reply(503 if pending else 200, "application/json",
                        json.dumps(answer).encode())
        elif path == "/livez":
            self._reply(200, "application/json", b'{"live": true}')
        else:
            known = ", ".join(["/metrics", "/healthz", "/livez", *server.routes])
            self._reply(404, "text/plain; charset=utf-8",
                        f"no such path {path!r}; try {known}\n".encode())

    def _serve_route(self, route: Route, path: str, query: str) -> None:
        try:
            reply = route(path, query)
        except Exception as error:
            _log.exception("route for %s failed", path)
            reply = HttpReply.json(500, {"code": "internal",
                                         "message": f"{type(error).__name__}: {error}"})
        self._reply(reply.status, reply.content_type, reply.body, reply.headers)

    def _reply(self, status: int, content_type: str, body: bytes,
               headers: tuple[tuple[str, str], ...] = ()) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Scrapes every few seconds would flood stderr; keep them at debug level."""
        _log.debug("metrics http: " + format, *args)


class _ObservabilityHTTPServer(HTTPServer):
    def __init__(self, address: tuple[str, int], metrics: MetricsRegistry,
                 readiness: Readiness, members: Members | None) -> None:
        self.metrics = metrics
        self.readiness = readiness
        self.members = members
        self.routes: dict[str, Route] = {}
        super().__init__(address, _Handler)

    def route_for(self, path: str) -> Route | None:
        for prefix, route in list(self.routes.items()):
            if path == prefix or path.startswith(prefix + "/"):
                return route
        return None


class MetricsServer:
    """Serve ``/metrics``, ``/healthz`` and ``/livez`` from a named background thread.

    ``port=0`` picks a free port (read it back from :attr:`port`). The server
    starts in :meth:`start` (or on entering a ``with`` block) and stops in
    :meth:`stop`; it also makes ``slither_ready`` follow ``readiness``. With
    ``members``, the endpoints also speak for those worker processes (see
    :mod:`~slither_stream.observability.federation`).
    """

    def __init__(self, metrics: MetricsRegistry, readiness: Readiness | None = None, *,
                 port: int = 0, host: str = DEFAULT_HOST,
                 members: Members | None = None) -> None:
        if not isinstance(port, int) or not 0 <= port <= 65535:
            raise ConfigError(f"metrics port must be an integer in 0..65535, got {port!r}")
        if not host:
            raise ConfigError("metrics host must not be empty")
        self.metrics = metrics
        self.readiness = readiness if readiness is not None else Readiness()
        self.members = members
        self._address = (host, port)
        self._server: _ObservabilityHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._routes: dict[str, Route] = {}
        metrics.track_readiness(self.readiness.is_ready)

    def add_route(self, prefix: str, route: Route) -> None:
        """Serve GETs of ``prefix`` and of paths under it (``prefix/...``) with
        ``route``, before or after :meth:`start`. ``prefix`` starts with ``/`` and
        is none of the built-in paths."""
        if not prefix.startswith("/") or prefix.endswith("/") or \
                prefix in ("/metrics", "/healthz", "/livez"):
            raise ConfigError(f"route prefix must be a path like '/state', not {prefix!r}")
        self._routes[prefix] = route
        if self._server is not None:
            self._server.routes[prefix] = route

    @property
    def host(self) -> str:
        """The address the server binds."""
        return self._address[0]

    @property
    def port(self) -> int:
        """The bound port (the real one when constructed with ``port=0``)."""
        if self._server is None:
            return self._address[1]
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """``http://host:port`` of the running server."""
        return f"http://{self.host}:{self.port}"

    def start(self) -> MetricsServer:
        """Bind and start serving; a port already in use raises :class:`ConfigError`."""
        if self._server is not None:
            return self
        try:
            server = _ObservabilityHTTPServer(self._address, self.metrics, self.readiness,
                                              self.members)
        except OSError as error:
            raise ConfigError(
                f"cannot serve metrics on {self._address[0]}:{self._address[1]}: {error}"
            ) from error
        server.routes.update(self._routes)
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever,
                                        kwargs={"poll_interval": 0.5},
                                        name=f"slither-metrics-http-{self.port}", daemon=True)
        self._thread.start()
        _log.info("serving /metrics, /healthz and /livez on %s", self.url)
        return self

    def stop(self) -> None:
        """Stop serving, close the socket and join the thread; idempotent."""
        server, thread = self._server, self._thread
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if thread is not None:
            thread.join()
        self._server = None
        self._thread = None

    def __enter__(self) -> MetricsServer:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
