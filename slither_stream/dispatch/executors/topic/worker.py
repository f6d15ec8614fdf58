"""The compute worker group behind the Topic executor.

:func:`run_compute_worker` is one member of a consumer group on the request topic. It
takes a request, runs the function, writes the reply to the reply topic (keyed by
batch id), waits for the reply to be acknowledged and only then commits the request's
offset. A worker that dies mid-batch has therefore not committed it: once the group
notices (Kafka: ``session_timeout``), the partition moves to another member, which
reads the request again and replies. The executor ignores a second reply to a batch
it already has, so at-least-once delivery is safe.

Run any number of workers, in any number of processes or hosts (Kafka), or as threads
of the process that owns an embedded log (``slither compute --function
module:function`` wraps this function).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from slither_stream.dispatch.compute import ComputeFunction, name_of, resolve
from slither_stream.dispatch.executors.topic.protocol import (
    WORKER,
    Request,
    read_request,
    worker_identity,
)
from slither_stream.dispatch.wire import encode_error, get_codec, serve_request
from slither_stream.errors import ConfigError
from slither_stream.log import Log, open_log
from slither_stream.log.types import TopicPartition

_log = logging.getLogger(__name__)

DEFAULT_GROUP = "slither-compute"


def kafka_consumer_options(log: Log, session_timeout: float | None) -> dict[str, Any]:
    """Consumer options that make a dead member noticed within ``session_timeout``."""
    if session_timeout is None or not log.url.startswith("kafka://"):
        return {}
    millis = int(session_timeout * 1000)
    return {"config": {"session.timeout.ms": millis,
                       "heartbeat.interval.ms": max(100, millis // 4)}}


def _serve(function: ComputeFunction, name: str, request: Request,
           default_codec: str) -> bytes:
    """The encoded reply to one request (errors become error replies)."""
    try:
        codec = get_codec(request.codec)
    except ConfigError as error:
        return encode_error(get_codec(default_codec), "contract", "ConfigError", str(error),
                            None)
    if request.function is not None and request.function != name:
        return encode_error(codec, "contract", "ConfigError",
                            f"this worker group runs {name}, but the request asks for "
                            f"{request.function}", None)
    return serve_request(function, name, codec, request.body)


def run_compute_worker(
    log: Log | str,
    function: Callable[[list[Any]], Any] | str,
    request_topic: str,
    reply_topic: str | None = None,
    group: str = DEFAULT_GROUP,
    *,
    stop: threading.Event | None = None,
    max_batches: int | None = None,
    serializer: str = "pickle",
    session_timeout: float | None = 10.0,
    poll_timeout: float = 0.5,
    on_ready: Callable[[], None] | None = None,
) -> int:
    """Serve batches from ``request_topic`` until ``stop`` is set (or ``max_batches``).

    ``log`` is a URL (the worker opens and closes it) or an open :class:`Log` (an
    embedded log shared with the executor in one process). ``function`` is
    ``"module:function"`` or a callable; requests naming another function get an error
    reply. Replies go to the request's reply-to header, else ``reply_topic``.
    ``session_timeout`` (seconds; Kafka only) bounds how long a dead worker's batches
    wait before another member takes them. ``on_ready`` runs once the worker has
    subscribed. Returns how many batches it served.
    """
    if isinstance(max_batches, bool) or (max_batches is not None and max_batches < 1):
        raise ConfigError(f"max_batches must be None or >= 1, got {max_batches!r}")
    get_codec(serializer)
    name = name_of(function)
    compute: ComputeFunction = resolve(function) if isinstance(function, str) else function
    owned = isinstance(log, str)
    opened = open_log(log) if isinstance(log, str) else log
    stopping = stop if stop is not None else threading.Event()
    served = 0
    consumer = opened.consumer(group, auto_offset_reset="earliest",
                               **kafka_consumer_options(opened, session_timeout))
    producer = opened.producer()
    identity = worker_identity()
    try:
        consumer.subscribe([request_topic])
        if on_ready is not None:
            on_ready()
        while not stopping.is_set():
            for record in consumer.poll_batch(max_records=1, timeout=poll_timeout):
                request = read_request(record, serializer)
                reply = _serve(compute, name, request, serializer)
                target = request.reply_to or reply_topic
                if target is None:
                    _log.error("request %s on %s has no reply-to header and the worker has "
                               "no reply_topic; dropping it", request.batch_id, request_topic)
                else:
                    producer.send(target, reply, key=request.batch_id.encode(),
                                  headers=[(WORKER, identity)])
                consumer.commit({TopicPartition(record.topic, record.partition):
                                 record.offset + 1})
                served += 1
                if max_batches is not None and served >= max_batches:
                    stopping.set()
    finally:
        consumer.close()
        producer.close()
        if owned:
            opened.close()
    return served
