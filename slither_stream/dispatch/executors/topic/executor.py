"""Topic: compute batches through a worker group on the log.

``execute_batch`` writes the batch to the request topic (one record, keyed by a fresh
batch id) and waits for the reply with that id on the reply topic, up to the batch
timeout. One reader thread per executor (``slither-topic-replies``, owned by the
executor and stopped by :meth:`Topic.close`) reads the reply topic with the client's
own poll and hands each reply to the thread waiting for it; replies nobody waits for
(a duplicate after a redelivery, a reply that came after its timeout, another
executor's) are ignored.

The reader starts at the reply topic's end when the executor starts, so replies from
earlier runs are never mistaken for new ones. Surviving a worker that dies mid-batch
is the worker group's job (see :mod:`.worker`): choose a batch timeout longer than
the workers' session timeout plus the time a batch takes.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

from slither_stream.context import Context
from slither_stream.dispatch.compute import BatchComputeError, name_of, to_items
from slither_stream.dispatch.executors.topic.protocol import WORKER, request_headers
from slither_stream.dispatch.wire import decode_reply, encode_request, get_codec
from slither_stream.errors import ConfigError
from slither_stream.item import Item
from slither_stream.log import Consumer, Log, Producer, open_log

if TYPE_CHECKING:
    from slither_stream.dispatch.options import DispatchOptions

_log = logging.getLogger(__name__)


@dataclass
class _Waiter:
    """A thread waiting for the reply to one batch."""

    done: threading.Event = field(default_factory=threading.Event)
    reply: bytes = b""
    worker: str | None = None


class Topic:
    """Sends batches to ``request_topic`` and reads replies from ``reply_topic``.

    ``log`` is a URL (the executor opens and closes it) or an open :class:`Log`.
    ``function`` names the compute function (``"module:function"``); workers of the
    group must run the same one. Missing topics are created with ``partitions``
    partitions. Use as a context manager, or call :meth:`start` / :meth:`close`.
    """

    name = "topic"

    def __init__(self, log: Log | str, function: Callable[[list[Any]], Any] | str, *,
                 request_topic: str, reply_topic: str, partitions: int = 4,
                 serializer: str = "pickle", poll_timeout: float = 0.2) -> None:
        for label, topic in (("request_topic", request_topic), ("reply_topic", reply_topic)):
            if not isinstance(topic, str) or not topic:
                raise ConfigError(f"Topic {label} must be a non-empty topic name, got "
                                  f"{topic!r}")
        if request_topic == reply_topic:
            raise ConfigError(f"Topic request_topic and reply_topic must differ, both are "
                              f"{request_topic!r}")
        if isinstance(partitions, bool) or not isinstance(partitions, int) or partitions < 1:
            raise ConfigError(f"Topic partitions must be an int >= 1, got {partitions!r}")
        self.function = name_of(function)
        self.request_topic = request_topic
        self.reply_topic = reply_topic
        self.partitions = partitions
        self.poll_timeout = poll_timeout
        self._codec = get_codec(serializer)
        self._log_source = log
        self._log: Log | None = None
        self._producer: Producer | None = None
        self._consumer: Consumer | None = None
        self._reader: threading.Thread | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._send_lock = threading.Lock()
        self._waiting: dict[str, _Waiter] = {}
        self._closed = False

    # -- lifecycle ------------------------------------------------------------------

    def start(self) -> Self:
        """Create missing topics, position the reply reader at the end, start it."""
        with self._lock:
            if self._closed:
                raise ConfigError(f"Topic executor for {self.function} is closed")
            if self._reader is not None:
                return self
            log = open_log(self._log_source) if isinstance(self._log_source, str) \
                else self._log_source
            self._log = log
            log.create_topic(self.request_topic, self.partitions)
            log.create_topic(self.reply_topic, self.partitions)
            replies = log.partitions_of(self.reply_topic)
            ends = log.end_offsets(replies)
            self._consumer = log.consumer(f"slither-dispatch-replies-{uuid.uuid4().hex}",
                                          auto_offset_reset="latest")
            self._consumer.assign([(tp, ends[tp]) for tp in replies])
            self._producer = log.producer()
            self._reader = threading.Thread(target=self._read_replies,
                                            name="slither-topic-replies", daemon=True)
            self._reader.start()
        return self

    def close(self) -> None:
        """Stop the reply reader and release the clients (and the log if opened here).
        Batches still waiting fail as ``unavailable``. Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            reader = self._reader
        self._stop.set()
        if reader is not None:
            reader.join()
        with self._lock:
            waiting, self._waiting = self._waiting, {}
        for waiter in waiting.values():
            waiter.done.set()
        if self._consumer is not None:
            self._consumer.close()
        if self._producer is not None:
            self._producer.close()
        if isinstance(self._log_source, str) and self._log is not None:
            self._log.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    # -- replies --------------------------------------------------------------------

    def _read_replies(self) -> None:
        consumer = self._consumer
        assert consumer is not None
        while not self._stop.is_set():
            try:
                records = consumer.poll_batch(max_records=500, timeout=self.poll_timeout)
            except Exception:
                if self._stop.is_set():
                    return
                _log.exception("reading replies from %s failed; retrying", self.reply_topic)
                continue
            for record in records:
                batch_id = (record.key or b"").decode("utf-8", "replace")
                with self._lock:
                    waiter = self._waiting.pop(batch_id, None)
                if waiter is None:
                    continue
                worker = record.header(WORKER)
                waiter.worker = worker.decode("utf-8", "replace") if worker else None
                waiter.reply = record.value or b""
                waiter.done.set()

    # -- batches --------------------------------------------------------------------

    def execute_batch(self, batch: list[Item], ctx: Context,
                      opts: DispatchOptions) -> list[Item]:
        if self._reader is None:
            self.start()
        data = encode_request(self._codec, self.function, [item.payload for item in batch])
        batch_id = uuid.uuid4().hex
        waiter = _Waiter()
        with self._lock:
            if self._closed:
                raise self._unavailable("the executor is closed")
            self._waiting[batch_id] = waiter
        try:
            producer = self._producer
            assert producer is not None
            headers = request_headers(batch_id, self.function, self._codec.name,
                                      self.reply_topic)
            with self._send_lock:
                producer.send(self.request_topic, data, batch_id.encode(), headers=headers)
            if not waiter.done.wait(opts.timeout):
                raise BatchComputeError(
                    f"no reply for a batch of {len(batch)} from the {self.function} worker "
                    f"group on {self.request_topic} within {opts.timeout} s (batch id "
                    f"{batch_id})", function=self.function, reason="timed_out")
        finally:
            with self._lock:
                self._waiting.pop(batch_id, None)
        if not waiter.reply:
            raise self._unavailable("the executor closed while the batch was waiting")
        results = decode_reply(self._codec, self.function, waiter.reply)
        return to_items(batch, results)

    def _unavailable(self, why: str) -> BatchComputeError:
        return BatchComputeError(f"Topic executor for {self.function}: {why}",
                                 function=self.function, reason="unavailable")

    def __repr__(self) -> str:
        return f"Topic({self.function}, {self.request_topic} -> {self.reply_topic})"

