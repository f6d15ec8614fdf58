"""Compute functions the dispatch tests import by name ("tests.dispatch.funcs:NAME").

Worker processes import this module, so it must stay importable on its own and cheap.
Payload conventions let one function misbehave on chosen items: ``"crash"`` calls
``os._exit``, ``"segv"`` kills the worker with SIGSEGV, ``"hang"`` sleeps past any test
timeout, ``"boom"`` raises.
"""

from __future__ import annotations

import os
import signal
import time
from typing import Any


def double(payloads: list[Any]) -> list[Any]:
    return [p * 2 for p in payloads]


def identity(payloads: list[Any]) -> list[Any]:
    return list(payloads)


def with_pid(payloads: list[Any]) -> list[Any]:
    """Each payload paired with the pid that computed it."""
    pid = os.getpid()
    return [[p, pid] for p in payloads]


def misbehave(payloads: list[Any]) -> list[Any]:
    """Doubles ints; crashes, segfaults, hangs or raises on marker payloads."""
    if "crash" in payloads:
        os._exit(3)
    if "segv" in payloads:
        os.kill(os.getpid(), signal.SIGSEGV)
    if "hang" in payloads:
        time.sleep(3600)
    if "boom" in payloads:
        raise ValueError("boom payload seen")
    return [p * 2 for p in payloads]


def short_by_one(payloads: list[Any]) -> list[Any]:
    return list(payloads)[:-1]


def not_a_list(payloads: list[Any]) -> Any:
    return {"count": len(payloads)}


def sleep_ms_per_batch(payloads: list[Any]) -> list[Any]:
    """1 ms of work per batch (for the benchmark), results like ``double``."""
    time.sleep(0.001)
    return [p * 2 for p in payloads]


not_callable = 42


def announce_and_hang(payloads: list[Any]) -> list[Any]:
    """Write this worker's pid to the path in ``payloads[0]`` (a FIFO), then hang."""
    with open(payloads[0], "w") as handle:
        handle.write(str(os.getpid()))
    time.sleep(3600)
    return payloads


def spin(payloads: list[Any]) -> list[Any]:
    """CPU-bound work (~20 µs per item, GIL held), for throughput benchmarks."""
    out = []
    for p in payloads:
        acc = 0
        for k in range(400):
            acc += (p + k) * k % 7
        out.append(acc)
    return out


def _first_time(marker: str, note: str = "") -> bool:
    """True (and the marker is created holding this pid) on the first call only."""
    try:
        fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return False
    os.write(fd, f"{os.getpid()}{note}".encode())
    os.close(fd)
    return True


def exit_once(payloads: list[Any]) -> list[Any]:
    """``payloads[0]`` is a marker path: the first worker to see it dies (os._exit)."""
    if _first_time(payloads[0]):
        os._exit(1)
    return [[p, os.getpid()] for p in payloads]


def thread_dies_once(payloads: list[Any]) -> list[Any]:
    """Like ``exit_once`` for in-process workers: the first call ends its worker
    thread with SystemExit, mid-batch, before any reply or commit."""
    import threading

    if _first_time(payloads[0], f" {threading.current_thread().name}"):
        raise SystemExit("worker thread dies mid-batch")
    return [[p, os.getpid()] for p in payloads]
