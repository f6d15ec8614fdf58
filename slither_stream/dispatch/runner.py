"""The bounded runner: at most ``max_in_flight`` batches in flight, input pulled lazily.

The runner is a generator driven by its consumer. Each time it needs a result it
first fills the free in-flight slots — pulling one batch from the strategy per slot,
which pulls the items from the input — then waits for the next outcome (the oldest
batch under ``preserve``, the first to finish under ``as_completed``) and yields its
results. A slot is freed only when its results are handed out, so

    items pulled from the input - results yielded  <=  max_in_flight * batch_size

at every point (with FixedBatch), whatever the consumer's speed: memory stays flat on
an endless input. Batches run on a thread pool of ``max_in_flight`` named threads
(``slither-dispatch-*``) owned by the generator and shut down when it finishes,
fails or is closed. Inline executors are called on the consumer's thread instead.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait

from slither_stream.context import Context
from slither_stream.dispatch import batch as batch_runner
from slither_stream.dispatch.batch import BatchOutcome
from slither_stream.dispatch.executors.base import executor_name
from slither_stream.dispatch.options import DispatchOptions
from slither_stream.errors import DispatchError
from slither_stream.item import Item, next_id


def _wrap(items: Iterable[object]) -> Iterator[Item]:
    """Raw payloads become Items as they are pulled (never ahead of the strategy)."""
    for value in items:
        yield value if isinstance(value, Item) else Item(id=next_id(), payload=value)


def halt_error(outcome: BatchOutcome, opts: DispatchOptions,
               partial: list[Item]) -> DispatchError:
    """The DispatchError a halted run raises for ``outcome``."""
    cause = outcome.error
    if isinstance(cause, DispatchError):
        cause.partial = partial + cause.partial
        return cause
    return DispatchError(
        f"dispatch halted: batch {outcome.ref} ({outcome.size} items) failed on executor "
        f"{executor_name(opts.executor)} after {outcome.attempts} attempt(s): {cause}",
        partial=partial, cause=cause)


def _finished_results(futures: Iterable[Future[BatchOutcome]]) -> list[Item]:
    """Results of batches that already succeeded, for a halt's ``partial``."""
    results: list[Item] = []
    for future in futures:
        if future.done() and not future.cancelled() and future.exception() is None:
            outcome = future.result()
            if outcome.error is None:
                results.extend(outcome.results)
    return results


def iterate(items: Iterable[object], opts: DispatchOptions) -> Iterator[Item]:
    """Yield result items of ``items`` dispatched under ``opts`` (see module doc)."""
    ctx = opts.context if opts.context is not None else Context()
    batches = opts.strategy.batches(_wrap(items), opts.batch_size)
    inline = bool(getattr(opts.executor, "in_caller_thread", False))
    limit = 1 if inline else opts.max_in_flight
    stop = threading.Event()
    pool = None if inline else ThreadPoolExecutor(
        limit, thread_name_prefix="slither-dispatch")
    pending: deque[Future[BatchOutcome]] = deque()
    ref = 0
    exhausted = False
    finished = False

    def submit(batch: list[Item]) -> Future[BatchOutcome]:
        if pool is not None:
            return pool.submit(batch_runner.execute, ref, batch, ctx, opts, stop)
        done: Future[BatchOutcome] = Future()
        done.set_result(batch_runner.execute(ref, batch, ctx, opts, stop))
        return done

    def next_outcome() -> Future[BatchOutcome]:
        if opts.ordering == "preserve":
            return pending.popleft()
        first = next((f for f in pending if f.done()), None)
        if first is None:
            wait(pending, return_when=FIRST_COMPLETED)
            first = next(f for f in pending if f.done())
        pending.remove(first)
        return first

    try:
        while True:
            while not exhausted and len(pending) < limit:
                batch = next(batches, None)
                if batch is None:
                    exhausted = True
                elif batch:
                    ref += 1
                    pending.append(submit(batch))
            if not pending:
                break
            outcome = next_outcome().result()
            if outcome.error is not None:
                raise halt_error(outcome, opts, _finished_results(pending))
            batch_runner.report_skips(outcome, opts)
            yield from outcome.results
        finished = True
    finally:
        if not finished:
            stop.set()
        for future in pending:
            future.cancel()
        if pool is not None:
            pool.shutdown(wait=finished, cancel_futures=True)
