"""The executor seam: where a batch is computed.

``execute_batch(batch, ctx, opts)`` runs one batch and returns one result item per
input item, in order, or raises. It blocks the calling thread until the batch is done
or failed; the runner calls it from up to ``max_in_flight`` threads at once, so an
executor must be thread-safe. An executor enforces ``opts.timeout`` when it can
(Threads abandons the thread, Processes kills the worker, Topic stops waiting) and
reports every failure as :class:`~slither_stream.dispatch.compute.BatchComputeError`
(a :class:`~slither_stream.errors.ComputeError`); the runner's error policy decides
what happens next.

An executor that sets ``in_caller_thread = True`` (Inline) is called directly by the
consuming thread, one batch at a time.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, runtime_checkable

from slither_stream.context import Context
from slither_stream.item import Item

if TYPE_CHECKING:
    from slither_stream.dispatch.options import DispatchOptions


@runtime_checkable
class Executor(Protocol):
    """Computes batches."""

    @property
    def name(self) -> str:
        """Short name for telemetry and messages (``processes``, ``topic``...)."""
        ...

    def execute_batch(self, batch: list[Item], ctx: Context,
                      opts: DispatchOptions) -> list[Item]:
        """Compute ``batch``; one result item per input item, same order."""
        ...


def executor_name(executor: object) -> str:
    """The executor's ``name``, or its class name for executors without one."""
    name = getattr(executor, "name", None)
    return name if isinstance(name, str) else type(executor).__name__
