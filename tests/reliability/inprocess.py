"""Running a pipe's stages in-process (a :class:`Worker` in a named thread) until
every input has reached the output."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager

from slither_stream.log import Log, Record
from slither_stream.pipe.definition import PipeDefinition
from slither_stream.pipe.deploy.worker import Worker
from tests.reliability.helpers import follow_until


@contextmanager
def running_worker(log: Log, definition: PipeDefinition, member: str) -> Iterator[Worker]:
    """A :class:`Worker` for every stage, in a named thread, stopped (drained) on exit."""
    worker = Worker(log, definition, member=member)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            worker.run()
        except BaseException as error:  # reported by the owner below
            errors.append(error)

    thread = threading.Thread(target=run, name=f"reliability-worker-{member}")
    thread.start()
    try:
        yield worker
    finally:
        worker.stop()
        thread.join(timeout=120)
        assert not thread.is_alive(), f"worker {member} did not stop"
    assert not errors, f"worker {member} failed: {errors[0]!r}"


def finish(log: Log, definition: PipeDefinition, done: Callable[[list[Record]], bool],
           *, outputs: list[str], timeout: float = 180.0,
           members: tuple[str, ...] = ("finisher",)) -> None:
    """Run the pipe in-process until ``done`` holds for what ``outputs`` contain.

    Under exactly_once, passing the member ids of killed worker processes reuses
    their transactional ids, which fences their unfinished transactions at once
    instead of leaving them open until the broker's transaction timeout."""
    with ExitStack() as stack:
        for member in members:
            stack.enter_context(running_worker(log, definition, member))
        follow_until(log, outputs, done, timeout=timeout)
