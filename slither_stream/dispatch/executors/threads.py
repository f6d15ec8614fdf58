"""Threads: compute in a bounded pool of threads of this process.

Right for functions that release the GIL (numpy, I/O, native model runtimes). A batch
that outlives the timeout fails with ``timed_out``; Python cannot stop a thread, so the
call keeps running in the background until it returns, holding one of the pool's
threads — use Processes when hung code must be killed.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

from slither_stream.context import Context
from slither_stream.dispatch.compute import (
    BatchComputeError,
    ComputeFunction,
    call_checked,
    name_of,
    resolve,
    to_items,
)
from slither_stream.errors import ConfigError
from slither_stream.item import Item

if TYPE_CHECKING:
    from slither_stream.dispatch.options import DispatchOptions


class Threads:
    """A pool of ``max_workers`` named threads owned by this executor; ``close`` stops it."""

    name = "threads"

    def __init__(self, function: Callable[[list[Any]], Any] | str, *,
                 max_workers: int = 4) -> None:
        if isinstance(max_workers, bool) or not isinstance(max_workers, int) \
                or max_workers < 1:
            raise ConfigError(f"Threads max_workers must be an int >= 1, got {max_workers!r}")
        self.function_name = name_of(function)
        self._function: ComputeFunction = (
            resolve(function) if isinstance(function, str) else function)
        self.max_workers = max_workers
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None
        self._closed = False

    def _executor(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._closed:
                raise BatchComputeError(
                    f"Threads executor for {self.function_name} is closed",
                    function=self.function_name, reason="unavailable")
            if self._pool is None:
                self._pool = ThreadPoolExecutor(
                    self.max_workers, thread_name_prefix="slither-compute-thread")
            return self._pool

    def execute_batch(self, batch: list[Item], ctx: Context,
                      opts: DispatchOptions) -> list[Item]:
        payloads = [item.payload for item in batch]
        future = self._executor().submit(
            call_checked, self._function, self.function_name, payloads)
        try:
            results = future.result(timeout=opts.timeout)
        except FutureTimeout:
            future.cancel()
            raise BatchComputeError(
                f"compute function {self.function_name} did not finish a batch of "
                f"{len(batch)} within {opts.timeout} s (the thread cannot be stopped and "
                "keeps running)", function=self.function_name, reason="timed_out") from None
        return to_items(batch, results)

    def close(self) -> None:
        """Stop accepting batches and wait for running ones. Idempotent."""
        with self._lock:
            self._closed = True
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Threads({self.function_name}, max_workers={self.max_workers})"
