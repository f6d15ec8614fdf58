"""Garbage-collector settings for a process whose job is running stages.

A stage holds a batch of records while it works on it: a record, its decoded
payload, the item, the outcome and the encoded write are each one or more
container objects, so one batch of 1,000 records is some 10,000 live containers.
CPython's default first-generation threshold (700 net allocations) therefore runs
a young collection every few dozen records, and every collection promotes the
batch in hand to an older generation, which soon triggers a full collection that
walks every object in the process (modules, the topology, the stores' caches).
None of that finds garbage: a stage's objects are acyclic and freed by reference
counting as soon as the batch is written.

:func:`tune_for_stages` raises the first threshold well above what batches hold
(cyclic garbage is still collected, later) and :func:`freeze_startup_objects`
moves everything alive after start-up (imports, topology, restored stores) out of
the collector's reach. :class:`~slither_stream.pipe.deploy.worker.Worker` applies both
unless told not to (``tune_gc=False``), because they change the whole process.
"""

from __future__ import annotations

import gc
import logging

_log = logging.getLogger(__name__)

STAGE_GEN0_THRESHOLD = 100_000
"""Net container allocations between two young collections in a stage process:
ten times what a 1,000-record batch keeps alive, so a batch in hand never
triggers one. Cyclic garbage (rare on the hot path: an exception's traceback) waits
at most this many allocations longer to be freed."""


def tune_for_stages(gen0_threshold: int = STAGE_GEN0_THRESHOLD) -> None:
    """Raise the first-generation threshold to ``gen0_threshold`` (never lower it:
    an application that chose a higher one keeps it) and freeze what is alive."""
    if isinstance(gen0_threshold, bool) or not isinstance(gen0_threshold, int) \
            or gen0_threshold < 1:
        raise ValueError(f"gen0_threshold must be a positive integer, got "
                         f"{gen0_threshold!r}")
    gen0, gen1, gen2 = gc.get_threshold()
    if gen0 != 0 and gen0 < gen0_threshold:  # 0: collection disabled by the application
        gc.set_threshold(gen0_threshold, gen1, gen2)
        _log.debug("gc threshold %d -> %d", gen0, gen0_threshold)
    freeze_startup_objects()


def freeze_startup_objects() -> None:
    """Move every object alive now into the permanent generation, so full
    collections stop walking them (they are still freed by reference counting).
    Collects first: a garbage cycle frozen would never be freed."""
    gc.collect()
    gc.freeze()
