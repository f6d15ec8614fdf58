"""One place in the pool: a worker process and the batches outstanding on it.

A worker serves its socket strictly in order, one batch at a time, so the batches
outstanding on a slot form a queue: the head is the one the worker is computing, the
others are waiting in the socket, not yet read. That order is what makes recovery
exact: when the worker dies or hangs, only the head had started; the queued batches
are resent, in order, to the replacement.

The thread that owns the head reads the reply (there is no reader thread); when it
has its reply it hands the turn to the next request, whose timeout clock starts then
(its batch starts on the worker at that moment).
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field

from slither_stream.dispatch.compute import BatchComputeError
from slither_stream.dispatch.executors.processes.supervisor import WorkerProcess


@dataclass(eq=False)
class Request:
    """One batch on its way through a slot."""

    data: bytes
    size: int
    turn: threading.Event = field(default_factory=threading.Event)
    """Set when the request reaches the head of its slot's queue (or has failed)."""
    started: float = 0.0
    """Monotonic time the worker started on it (when it reached the head)."""
    failure: BatchComputeError | None = None
    worker_pid: int | None = None


class Slot:
    """A worker and its outstanding requests.

    ``outstanding`` and ``load`` are guarded by the pool's condition; ``send_lock``
    serializes appending to ``outstanding`` with writing to the socket, so queue order
    is send order, and excludes senders while a crashed worker is being replaced.
    """

    def __init__(self, index: int) -> None:
        self.index = index
        self.worker: WorkerProcess | None = None
        self.outstanding: deque[Request] = deque()
        self.load = 0
        self.send_lock = threading.Lock()
