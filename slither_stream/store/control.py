"""Store control over the log: ask the process that owns a store to reload it.

Only one process on a host owns a store's directory (``OWNER.lock``); under
``slither worker`` on Kafka that is the supervisor. A ``slither reload`` run beside
it cannot open the directory, so it asks the owner through two topics of the store's
app (the pipe name):

* ``<app>.control`` — requests, one JSON value each:
  ``{"id", "command": "reload", "store", "source"}``.
* ``<app>.control.replies`` — answers: ``{"id", "ok", "store", "generation",
  "error", "owner", "seconds"}``.

Every owner runs a :class:`ControlListener`: one named thread reading the request
topic from the end offset it saw when it started (requests older than the owner are
never acted on) and answering on the reply topic. Each listener reads every request
(manual assignment, no shared group), so with replicas on several hosts each owner
reloads its own copy and replies; the requester takes the first answer.

The embedded log is opened by one process only, so nothing can reach an owner
through it; the CLI says so instead of using this module there.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Mapping
from types import TracebackType
from typing import Any, Self

import orjson

from slither_stream.errors import ConfigError, SlitherError, StoreError
from slither_stream.log.base import Consumer, Log, Producer
from slither_stream.log.types import TopicPartition, TopicSpec

_log = logging.getLogger(__name__)

CONTROL_RETENTION_MS = 60 * 60 * 1000
"""Requests and replies are only useful for seconds; keep an hour for inspection."""
POLL_TIMEOUT_S = 0.5


def control_topic(app: str) -> str:
    return f"{app}.control"


def reply_topic(app: str) -> str:
    return f"{app}.control.replies"


def end_position(log: Log, topic: str) -> tuple[TopicPartition, int]:
    """Partition 0 of ``topic`` and the offset a reader of new records only starts at;
    the topic (one partition) is created when missing."""
    partition = TopicPartition(topic, 0)
    log.create_topics([TopicSpec(topic, 1, retention_ms=CONTROL_RETENTION_MS)],
                      exist_ok=True)
    return partition, log.end_offsets([partition])[partition]


def owner_identity() -> str:
    return f"{socket.gethostname()} pid {os.getpid()}"


class ControlListener:
    """Answers control requests for ``stores`` (store name -> started Store) of ``app``.

    Start it after the stores are started and stop it before they stop (as a context
    manager inside the stores' own). Requests are handled one at a time on the
    listener's thread, so two reloads of one store never overlap.
    """

    def __init__(self, log: Log, app: str, stores: Mapping[str, Any]) -> None:
        self.log = log
        self.app = app
        self.stores = dict(stores)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._consumer: Consumer | None = None
        self._producer: Producer | None = None

    def start(self) -> ControlListener:
        requests, start_at = end_position(self.log, control_topic(self.app))
        end_position(self.log, reply_topic(self.app))
        self._consumer = self.log.consumer(f"{self.app}.control.owner-{uuid.uuid4().hex[:12]}")
        self._consumer.assign([(requests, start_at)])
        self._producer = self.log.producer()
        self._thread = threading.Thread(target=self._run, name=f"slither-store-control-{self.app}",
                                        daemon=True)
        self._thread.start()
        _log.info("store control for %s listening on %s from offset %d (stores: %s)",
                  self.app, requests.topic, start_at, ", ".join(self.stores))
        return self

    def stop(self) -> None:
        """Finish the request in hand, then close the clients. Idempotent."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join()
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            consumer.close()
        producer, self._producer = self._producer, None
        if producer is not None:
            producer.close()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def _run(self) -> None:
        consumer = self._consumer
        assert consumer is not None
        while not self._stop.is_set():
            try:
                records = consumer.poll_batch(16, timeout=POLL_TIMEOUT_S)
            except SlitherError as error:
                _log.error("store control for %s: poll failed: %s", self.app, error)
                self._stop.wait(POLL_TIMEOUT_S)  # do not spin on a failing log
                continue
            for record in records:
                self._answer(record.value)

    def _answer(self, raw: bytes | None) -> None:
        try:
            request = orjson.loads(raw or b"")
            if not isinstance(request, dict) or not isinstance(request.get("id"), str):
                raise ValueError("not an object with a string 'id'")
        except ValueError as error:
            _log.warning("store control for %s: ignoring a malformed request (%s)",
                         self.app, error)
            return
        started = time.perf_counter()
        reply: dict[str, Any] = {"id": request["id"], "store": request.get("store"),
                                 "owner": owner_identity()}
        try:
            reply["generation"] = self._execute(request)
            reply["ok"] = True
        except Exception as error:  # the requester gets the reason; the owner keeps going
            _log.error("store control for %s: %s failed: %s", self.app,
                       request.get("command"), error)
            reply.update(ok=False, error=f"{type(error).__name__}: {error}")
        reply["seconds"] = round(time.perf_counter() - started, 3)
        producer = self._producer
        assert producer is not None
        try:
            producer.send(reply_topic(self.app), orjson.dumps(reply),
                          str(request["id"]).encode())
        except SlitherError as error:
            _log.error("store control for %s: cannot reply: %s", self.app, error)

    def _execute(self, request: Mapping[str, Any]) -> int:
        command = request.get("command")
        if command != "reload":
            raise ConfigError(f"unknown control command {command!r} (known: reload)")
        name = request.get("store")
        store = self.stores.get(name) if isinstance(name, str) else None
        if store is None:
            raise StoreError(f"this owner has no store {name!r} (it owns: "
                             f"{', '.join(self.stores) or 'none'})")
        source = request.get("source")
        if source not in (None, "changelog", "load"):
            raise ConfigError(f"reload source must be 'changelog' or 'load', not {source!r}")
        _log.info("store control for %s: reloading %s (source %s)", self.app, name,
                  source or "default")
        generation: int = store.reload(source)
        return generation


def request_reload(log: Log, app: str, store: str, source: str | None, *,
                   timeout: float) -> dict[str, Any]:
    """Ask the owner of ``store`` to reload it; return its reply.

    Raises :class:`StoreError` when no owner answers within ``timeout`` seconds.
    """
    replies, start_at = end_position(log, reply_topic(app))
    end_position(log, control_topic(app))
    request_id = uuid.uuid4().hex
    consumer = log.consumer(f"{app}.control.cli-{request_id[:12]}")
    try:
        consumer.assign([(replies, start_at)])
        with log.producer() as producer:
            producer.send(control_topic(app), orjson.dumps(
                {"id": request_id, "command": "reload", "store": store, "source": source}),
                store.encode())
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            for record in consumer.poll_batch(16, timeout=min(left, POLL_TIMEOUT_S)):
                try:
                    reply = orjson.loads(record.value or b"")
                except orjson.JSONDecodeError:
                    continue
                if isinstance(reply, dict) and reply.get("id") == request_id:
                    return reply
    finally:
        consumer.close()
    raise StoreError(
        f"no owner of store {store!r} (app {app!r}) answered on {control_topic(app)} within "
        f"{timeout:g}s; is a 'slither worker' of this pipe running on {log.url}?"
    )
