"""Running a pipe's stages in-process (a :class:`Worker` in a named thread) until
every input has reached the output."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, ExitStack

from slither_stream.log import Log, Record
from slither_stream.pipe.definition import PipeDefinition
from slither_stream.pipe.deploy.worker import Worker
from tests.reliability.helpers import follow_until
from tests.worker_thread import worker_thread


def running_worker(log: Log, definition: PipeDefinition, member: str
                   ) -> AbstractContextManager[Worker]:
    """A :class:`Worker` for every stage, in a named thread, stopped (drained) on exit."""
    return worker_thread(Worker(log, definition, member=member),
                         name=f"reliability-worker-{member}", join_timeout=120)


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
