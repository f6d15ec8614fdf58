"""Dispatch benchmark: Processes executor against a direct loop and the stdlib pools.

Run: ``.venv/bin/python bench/dispatch.py [--items N] [--batch-size B]``

Prints, in one run:

1. per-item overhead of ``dispatch.run`` (Inline and Processes with one worker)
   against calling the same function directly on the same batches in a loop, for a
   cheap function and for a function that costs 1 ms per batch;
2. throughput with 1, 2 and 4 worker processes for a CPU-bound function and for the
   1 ms-per-batch function, next to ``concurrent.futures.ProcessPoolExecutor.map`` and
   ``multiprocessing.Pool.map`` fed the same batches (spawned workers, warmed up;
   pool start-up is excluded everywhere).

Figures are wall-clock medians of ``--repeat`` runs on this machine; compare columns
within one run, not across machines.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import sys
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from slither_stream import dispatch  # noqa: E402
from tests.dispatch import funcs  # noqa: E402

FUNCTIONS: dict[str, Callable[[list[Any]], list[Any]]] = {
    "cheap (x*2)": funcs.double,
    "1 ms/batch": funcs.sleep_ms_per_batch,
    "cpu (~20us/item)": funcs.spin,
}


def spec(function: Callable[..., Any]) -> str:
    return f"{function.__module__}:{function.__name__}"


def timed(repeat: int, body: Callable[[], object]) -> float:
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        body()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def chunks(payloads: list[int], size: int) -> list[list[int]]:
    return [payloads[i:i + size] for i in range(0, len(payloads), size)]


def overhead_table(payloads: list[int], batch_size: int, repeat: int) -> None:
    batches = chunks(payloads, batch_size)
    n = len(payloads)
    print(f"\n## Per-item overhead ({n} items, batch_size {batch_size}, one compute worker)")
    print(f"{'function':<18} {'direct loop':>12} {'run/Inline':>12} {'run/Processes':>14} "
          f"{'overhead Inline':>16} {'overhead Processes':>19}")
    for label in ("cheap (x*2)", "1 ms/batch"):
        function = FUNCTIONS[label]

        def direct(function: Callable[[list[Any]], list[Any]] = function) -> None:
            for batch in batches:
                function(batch)

        t_direct = timed(repeat, direct)
        t_inline = timed(repeat, lambda function=function: dispatch.run(
            payloads, executor=dispatch.Inline(function), batch_size=batch_size))
        with dispatch.Processes(spec(function), processes=1) as pool:
            dispatch.run(payloads[:batch_size], executor=pool)  # warm
            t_proc = timed(repeat, lambda pool=pool: dispatch.run(
                payloads, executor=pool, batch_size=batch_size, max_in_flight=2))
        print(f"{label:<18} {t_direct * 1e3:>10.1f}ms {t_inline * 1e3:>10.1f}ms "
              f"{t_proc * 1e3:>12.1f}ms {(t_inline - t_direct) / n * 1e6:>13.2f}µs/it "
              f"{(t_proc - t_direct) / n * 1e6:>16.2f}µs/it")


def _stdlib_executor(function: Callable[..., Any], batches: list[list[int]], workers: int,
                     repeat: int) -> float:
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        list(pool.map(function, batches[:workers * 2]))  # start and warm every worker
        return timed(repeat, lambda: list(pool.map(function, batches)))


def _stdlib_pool(function: Callable[..., Any], batches: list[list[int]], workers: int,
                 repeat: int) -> float:
    context = multiprocessing.get_context("spawn")
    with context.Pool(workers) as pool:
        pool.map(function, batches[:workers * 2])
        return timed(repeat, lambda: pool.map(function, batches))


def throughput_table(payloads: list[int], batch_size: int, repeat: int) -> None:
    batches = chunks(payloads, batch_size)
    n = len(payloads)
    print(f"\n## Throughput, items/s ({n} items, batch_size {batch_size}, "
          f"{os.cpu_count()} CPUs)")
    print(f"{'function':<18} {'procs':>5} {'dispatch.run':>13} {'ProcessPoolExec':>16} "
          f"{'mp.Pool.map':>12}")
    for label in ("cpu (~20us/item)", "1 ms/batch"):
        function = FUNCTIONS[label]
        for workers in (1, 2, 4):
            with dispatch.Processes(spec(function), processes=workers) as pool:
                dispatch.run(payloads[:batch_size * workers], executor=pool,
                             batch_size=batch_size)
                t_ours = timed(repeat, lambda pool=pool, workers=workers: dispatch.run(
                    payloads, executor=pool, batch_size=batch_size,
                    max_in_flight=2 * workers))
            t_futures = _stdlib_executor(function, batches, workers, repeat)
            t_pool = _stdlib_pool(function, batches, workers, repeat)
            print(f"{label:<18} {workers:>5} {n / t_ours:>13,.0f} {n / t_futures:>16,.0f} "
                  f"{n / t_pool:>12,.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=20_000)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    payloads = list(range(args.items))
    print(f"# slither-stream dispatch benchmark (python {sys.version.split()[0]})")
    overhead_table(payloads, args.batch_size, args.repeat)
    throughput_table(payloads, args.batch_size, args.repeat)


if __name__ == "__main__":
    main()
