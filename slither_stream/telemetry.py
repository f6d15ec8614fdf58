"""Telemetry: named events, handlers attached to them, and spans.

Events are tuples of strings such as ``("slither", "dispatch", "batch", "stop")``.
Handlers receive ``(event, measurements, metadata)``. Emitting with no handler
attached costs one dict lookup, so the hot path can emit freely. A handler that
raises is detached and logged rather than breaking the pipeline that emitted.

The core events, emitted by the dispatch, store and pipe layers. ``start`` events
carry ``system_time``; ``stop`` and ``exception`` carry ``duration`` in seconds, and
``exception`` adds ``kind`` and ``reason`` to the metadata.

- ``slither.dispatch.batch.{start,stop,exception}``: batch_ref, batch_size, executor,
  pipe, stage
- ``slither.store.write`` (measurement ``count``): store, table
- ``slither.store.reload.{start,stop}``: store
- ``slither.pipe.run.{start,stop,exception}``: pipe, input_count
- ``slither.pipe.stage.{start,stop,exception}``: pipe, stage, type
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

Event = tuple[str, ...]
Measurements = dict[str, float]
Metadata = dict[str, Any]
Handler = Callable[[Event, Measurements, Metadata], None]

DISPATCH_BATCH: Event = ("slither", "dispatch", "batch")
STORE_WRITE: Event = ("slither", "store", "write")
STORE_RELOAD: Event = ("slither", "store", "reload")
PIPE_RUN: Event = ("slither", "pipe", "run")
PIPE_STAGE: Event = ("slither", "pipe", "stage")

_log = logging.getLogger(__name__)
_lock = threading.Lock()
# event -> {handler_id: handler}; replaced wholesale on change so emitters read
# a consistent snapshot without taking the lock.
_handlers: dict[Event, dict[str, Handler]] = {}


def attach(handler_id: str, event: Sequence[str], handler: Handler) -> None:
    """Call ``handler`` for every emission of ``event``.

    ``handler_id`` must be unique per event; attaching the same id twice replaces
    the earlier handler, which keeps re-imports idempotent.
    """
    attach_many(handler_id, [event], handler)


def attach_many(handler_id: str, events: Sequence[Sequence[str]], handler: Handler) -> None:
    """Attach one handler to several events under one id."""
    global _handlers
    with _lock:
        updated = {key: dict(value) for key, value in _handlers.items()}
        for event in events:
            updated.setdefault(tuple(event), {})[handler_id] = handler
        _handlers = updated


def detach(handler_id: str) -> bool:
    """Remove every attachment made under ``handler_id``; True if any existed."""
    global _handlers
    with _lock:
        found = False
        updated: dict[Event, dict[str, Handler]] = {}
        for event, by_id in _handlers.items():
            remaining = {key: h for key, h in by_id.items() if key != handler_id}
            found = found or len(remaining) != len(by_id)
            if remaining:
                updated[event] = remaining
        _handlers = updated
    return found


def execute(
    event: Sequence[str],
    measurements: Mapping[str, float] | None = None,
    metadata: Mapping[str, Any] | None = None,
) -> None:
    """Emit ``event`` to its handlers."""
    key = tuple(event)
    by_id = _handlers.get(key)
    if not by_id:
        return
    values = dict(measurements or {})
    meta = dict(metadata or {})
    for handler_id, handler in list(by_id.items()):
        try:
            handler(key, values, meta)
        except Exception:
            _log.exception("telemetry handler %r failed on %s; detaching it",
                           handler_id, ".".join(key))
            detach(handler_id)


def has_handlers(event: Sequence[str]) -> bool:
    """True if anything listens to ``event`` (lets callers skip building metadata)."""
    return bool(_handlers.get(tuple(event)))


@contextmanager
def span(prefix: Sequence[str], metadata: Mapping[str, Any] | None = None) -> Iterator[Metadata]:
    """Emit ``prefix + start``, then ``stop`` or ``exception`` with a ``duration``.

    The yielded dict is the metadata; the body may add to it (for example a result
    count) and the additions travel with the stop event. Durations are seconds
    measured with a monotonic clock.
    """
    base = tuple(prefix)
    meta: Metadata = dict(metadata or {})
    execute((*base, "start"), {"system_time": time.time()}, meta)
    started = time.perf_counter()
    try:
        yield meta
    except BaseException as error:
        duration = time.perf_counter() - started
        failed = dict(meta, kind=type(error).__name__, reason=str(error))
        execute((*base, "exception"), {"duration": duration}, failed)
        raise
    execute((*base, "stop"), {"duration": time.perf_counter() - started}, meta)
