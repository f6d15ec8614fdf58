"""Compute functions the reliability suite dispatches to worker processes by name.

Imported by compute worker processes, so it stays cheap and self-contained.
"""

from __future__ import annotations

import os
import random
import signal
import time
from typing import Any

SEGV_RATE = 0.01
HANG_RATE = 0.01

_rng = random.Random(int.from_bytes(os.urandom(8), "little"))


def flaky_crunch(payloads: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Squares ``n``; segfaults on 1% of batches and hangs on another 1% (chosen at
    random per call, so a retry usually succeeds), and always segfaults on a batch
    holding a ``doom`` payload."""
    if any(p.get("doom") for p in payloads):
        os.kill(os.getpid(), signal.SIGSEGV)
    draw = _rng.random()
    if draw < SEGV_RATE:
        os.kill(os.getpid(), signal.SIGSEGV)
    if draw < SEGV_RATE + HANG_RATE:
        time.sleep(3600)  # a hang: the pool's batch timeout kills this worker
    return [{**p, "square": p["n"] * p["n"]} for p in payloads]


def slow_identity(payloads: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Returns its input after ``SLITHER_RELIABILITY_SLOW_MS`` per payload of work."""
    per_item = float(os.environ.get("SLITHER_RELIABILITY_SLOW_MS", "5")) / 1000
    time.sleep(per_item * len(payloads))  # the simulated model cost
    return payloads
