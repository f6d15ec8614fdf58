"""The HTTP contract of ``GET /state/<stage>/<store>/<key>``: status codes and bodies.

Every answer but a raw value is a JSON object; every error has ``code`` (stable, for
programs) and ``message`` (for people).

======  ===============  ==========================================================
Status  ``code``         When, and what else the body holds
======  ===============  ==========================================================
200     (none)           this process owns the key's partition and it is restored:
                         ``stage``, ``store``, ``key``, ``partition``, ``value``
                         (decoded with the store's serde; ``value_encoding:
                         "base64"`` when the value is bytes), ``member``. With
                         ``?format=raw``: the stored bytes as
                         ``application/octet-stream``
404     ``unknown_stage`` the pipe has no such stage (``stages`` lists them)
404     ``unknown_store`` the stage has no such state store (``stores`` lists them)
404     ``no_value``     the owner has no value for the key (``partition``)
421     ``not_owner``    another member owns the partition: ``owner`` (its base URL,
                         null when it advertises none), ``member``, ``partition``,
                         ``client_id``, ``host``. Ask ``owner`` the same path
503     ``restoring``    this process owns the partition and is restoring its state
                         (``Retry-After``)
503     ``no_owner``     no member owns the partition now: a rebalance, or no worker
                         runs the stage (``Retry-After``)
502     ``unreachable``  a supervisor could not reach the worker process to ask
400     ``bad_request``  the path is not ``/state/<stage>/<store>/<key>``
500     ``undecodable``  the stored value does not decode with the store's serde
                         (``?format=raw`` still returns it)
======  ===============  ==========================================================

Values are the state as of the owner's last commit (at most one commit interval
behind what its handlers see).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import orjson

from slither_stream.observability.server import HttpReply

RETRY_AFTER_S = 1
OK = 200
NOT_FOUND = 404
MISDIRECTED = 421
UNAVAILABLE = 503
BAD_GATEWAY = 502
BAD_REQUEST = 400
INTERNAL = 500


def shown_key(key: bytes) -> str:
    """A key as JSON text: its UTF-8, undecodable bytes as ``\\xNN``."""
    return key.decode("utf-8", errors="backslashreplace")


def _default(value: Any) -> Any:
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, set | frozenset):
        return sorted(value, key=repr)
    return str(value)


def json_reply(status: int, body: dict[str, Any], *, retry: bool = False) -> HttpReply:
    headers = (("Retry-After", str(RETRY_AFTER_S)),) if retry else ()
    return HttpReply(status, orjson.dumps(body, default=_default) + b"\n",
                     "application/json", headers)


def error(status: int, code: str, message: str, **fields: Any) -> HttpReply:
    return json_reply(status, {"code": code, "message": message, **fields},
                      retry=status == UNAVAILABLE)


def found(stage: str, store: str, key: bytes, partition: int, value: Any, *,
          member: str | None = None) -> HttpReply:
    body: dict[str, Any] = {"stage": stage, "store": store, "key": shown_key(key),
                            "partition": partition, "value": value}
    if isinstance(value, bytes | bytearray | memoryview):
        body["value"] = base64.b64encode(bytes(value)).decode()
        body["value_encoding"] = "base64"
    body["member"] = member
    return json_reply(OK, body)


def raw(stage: str, store: str, partition: int, value: bytes) -> HttpReply:
    return HttpReply(OK, value, "application/octet-stream",
                     (("X-Slither-Stage", stage), ("X-Slither-Store", store),
                      ("X-Slither-Partition", str(partition))))


@dataclass(frozen=True)
class StateAnswer:
    """A found value as a client sees it: the 200 answer's JSON object (``stage``,
    ``store``, ``key``, ``partition``, ``value``, ...) and where it came from (a
    URL, or the local state directory)."""

    body: dict[str, Any]
    source: str

    @property
    def value(self) -> Any:
        return self.body["value"]
