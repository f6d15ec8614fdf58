"""Records exchanged between the Topic executor and compute workers.

A request is one record on the request topic: key = batch id, value = the payload
list encoded by the codec (see :mod:`slither_stream.dispatch.wire`), headers naming
the batch, the function, the codec and the reply topic. A reply is one record on the
reply topic: key = the same batch id, value = the encoded reply (results or error),
headers naming the worker that computed it. Keying by batch id spreads requests over
the request topic's partitions, and so over the worker group's members.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass

from slither_stream.log.types import Headers, Record

BATCH_ID = "slither-batch-id"
FUNCTION = "slither-function"
CODEC = "slither-codec"
REPLY_TO = "slither-reply-to"
WORKER = "slither-worker"


def worker_identity() -> bytes:
    """``host:pid`` of this process, stamped on replies."""
    return f"{socket.gethostname()}:{os.getpid()}".encode()


def request_headers(batch_id: str, function: str, codec: str, reply_to: str) -> Headers:
    return ((BATCH_ID, batch_id.encode()), (FUNCTION, function.encode()),
            (CODEC, codec.encode()), (REPLY_TO, reply_to.encode()))


@dataclass(frozen=True)
class Request:
    """A request record, decoded as far as the worker needs before computing."""

    batch_id: str
    function: str | None
    codec: str
    reply_to: str | None
    body: bytes


def read_request(record: Record, default_codec: str) -> Request:
    """The request in ``record``; missing headers fall back to defaults."""
    def text(name: str) -> str | None:
        value = record.header(name)
        return value.decode("utf-8", "replace") if value is not None else None

    batch_id = text(BATCH_ID) or (record.key or b"").decode("utf-8", "replace")
    return Request(batch_id=batch_id, function=text(FUNCTION),
                   codec=text(CODEC) or default_codec, reply_to=text(REPLY_TO),
                   body=record.value or b"")
