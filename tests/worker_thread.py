"""A :class:`~slither_stream.pipe.deploy.worker.Worker` run in a thread of the test
process: the one way tests run a pipe's stages in-process."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from slither_stream.pipe.deploy.worker import Worker


@contextmanager
def worker_thread(worker: Worker, *, name: str, ready_timeout: float | None = None,
                  join_timeout: float = 60.0) -> Iterator[Worker]:
    """Run ``worker`` in a thread named ``name``; stop (drain) it on exit and fail if
    it did not stop within ``join_timeout`` or raised. With ``ready_timeout``, wait
    first until every stage has joined its group (the worker's ``on_ready``)."""
    ready = threading.Event()
    if ready_timeout is not None:
        worker.on_ready = ready.set
    errors: list[BaseException] = []

    def run() -> None:
        try:
            worker.run()
        except BaseException as error:  # reported by the owner below
            errors.append(error)
            ready.set()

    thread = threading.Thread(target=run, name=name)
    thread.start()
    try:
        if ready_timeout is not None:
            assert ready.wait(ready_timeout), f"worker {name} did not start"
            assert not errors, f"worker {name} failed: {errors[0]!r}"
        yield worker
    finally:
        worker.stop()
        thread.join(timeout=join_timeout)
        assert not thread.is_alive(), f"worker {name} did not stop"
    assert not errors, f"worker {name} failed: {errors[0]!r}"
