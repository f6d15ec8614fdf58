"""The keyed-state pipe the fault test runs in ``slither worker`` processes.

One local stage, ``tally``, keeps a running count and sum per key in the keyed
state store ``totals`` and writes ``{key, seq, n, sum}`` per record: ``seq`` is the
input's per-key sequence number (which input this output is of), ``n`` and ``sum``
the key's running count and sum after it.

``SLITHER_FAULTS_RESTORE_MS=M`` (fault injection, read when a worker process loads
this file) slows the worker's changelog restores down: they apply at most
:data:`RESTORE_BATCH` records at a time and each application takes ``M`` ms more,
so a rebalance can land while a restore is under way; restore progress is then
logged every half second. It also prints one line per partition that the group
revokes while its restore is still under way or waiting
(``FAULTS revoked while restoring: stage S partition P (the revoke took T s)``),
the test's evidence that the rebalance did land during a restore.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterable
from typing import Any

from slither_stream.context import Context
from slither_stream.item import Item
from slither_stream.log.types import TopicPartition
from slither_stream.pipe import Pipe

PARTITIONS = 6
RESTORE_BATCH = 2000


def tally(item: Item, ctx: Context) -> Any:
    assert ctx.state is not None
    count, total = ctx.state.get((0, 0))
    count, total = count + 1, total + item.payload["amount"]
    ctx.state.set((count, total))
    return {"key": item.payload["key"], "seq": item.payload["seq"], "n": count, "sum": total}


def tally_pipe(name: str, delivery: str) -> Pipe:
    pipe = Pipe(name, partitions=PARTITIONS, delivery=delivery)  # type: ignore[arg-type]
    pipe.local("tally", tally, state=["totals"], batch_size=500)
    return pipe


at_least_once = tally_pipe("keyed-faults-alo", "at_least_once")
exactly_once = tally_pipe("keyed-faults-eos", "exactly_once")


def _slow_restores(delay_s: float) -> None:
    from slither_stream.pipe.engine.tasks import StageTasks
    from slither_stream.store.partitioned import recovery
    from slither_stream.store.partitioned.task_store import TaskStore

    recovery.BATCH_RECORDS = RESTORE_BATCH
    recovery.POLL_RECORDS = RESTORE_BATCH
    recovery.PROGRESS_INTERVAL_S = 0.5
    apply = TaskStore.apply

    def slow_apply(self: TaskStore, entries: Any, checkpoint: int | None, *,
                   wal: bool = True) -> None:
        if not wal:  # a restore's batch (the stage's commits write with the WAL)
            time.sleep(delay_s)
        apply(self, entries, checkpoint, wal=wal)

    revoked = StageTasks.revoked

    def revoked_noting(self: StageTasks, partitions: Iterable[TopicPartition]) -> None:
        chosen = list(partitions)
        restoring = [tp.partition for tp in chosen
                     if tp.topic == self.plan.input_topic and tp.partition in self._restoring]
        started = time.monotonic()
        revoked(self, chosen)
        for partition in restoring:
            print(f"FAULTS revoked while restoring: stage {self.plan.name} partition "
                  f"{partition} (the revoke took {time.monotonic() - started:.2f} s)",
                  file=sys.stderr, flush=True)

    TaskStore.apply = slow_apply  # type: ignore[method-assign]
    StageTasks.revoked = revoked_noting  # type: ignore[method-assign]


_RESTORE_MS = os.environ.get("SLITHER_FAULTS_RESTORE_MS")
if _RESTORE_MS:
    _slow_restores(float(_RESTORE_MS) / 1000)
