"""A worker process for the kill tests: running totals per key in a store, killed
with SIGKILL at a chosen point of its second commit.

``python -m tests.e2e.kill_child LOG_URL NAME DELIVERY STORE_DIR KILL_MARKER``

Unless ``KILL_MARKER`` exists, the process creates it and kills itself (SIGKILL) in
its second commit that holds state writes: under at_least_once after the flush of
the outputs and changelog records, just before the offsets are committed; under
exactly_once just before the transaction (outputs, changelog records, offsets) is
committed. Either way nothing gets a chance to clean up. Without a kill it runs
until its group has committed everything of the input topic (complete before it
starts), then stops cleanly.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from slither_stream.context import Context
from slither_stream.item import Item
from slither_stream.log import open_log
from slither_stream.log.base import Producer
from slither_stream.pipe import Pipe, state
from slither_stream.pipe.deploy.worker import Worker
from slither_stream.store import Store, TableSpec


class Totals(Store):
    name = "totals"

    def tables(self) -> Sequence[TableSpec]:
        return [TableSpec("by_user", key="string")]


def count(item: Item, ctx: Context) -> Any:
    user = item.payload["user"]
    total = state.get(ctx, "totals", "by_user", user, default=0) + 1
    state.put(ctx, "totals", "by_user", user, total)
    return {"user": user, "n": total}


def pipe(name: str, delivery: str) -> Pipe:
    built = Pipe(name, partitions=2, delivery=delivery,  # type: ignore[arg-type]
                 commit_records=50)
    built.store("totals", Totals)
    built.local("count", count, batch_size=25)
    return built


def arm(marker: Path, delivery: str) -> None:
    """Patch the strategies' last step so the second commit with state kills us."""
    from slither_stream.pipe.engine.commit import at_least_once, exactly_once

    commits = [0]

    def die_on_second() -> None:
        commits[0] += 1
        if commits[0] == 2:
            marker.touch()
            os.kill(os.getpid(), signal.SIGKILL)

    if delivery == "exactly_once":
        original_eos = exactly_once.ExactlyOnce._commit

        def commit_then(self: Any, producer: Producer) -> None:
            if self.buffer:
                die_on_second()
            original_eos(self, producer)

        exactly_once.ExactlyOnce._commit = commit_then  # type: ignore[method-assign]
    else:
        original_alo = at_least_once.AtLeastOnce._counted

        def counted_then(self: Any) -> None:
            # called after the flushes and after the state is applied, just before
            # the offsets are committed
            if self.tracker.committable():
                die_on_second()
            original_alo(self)

        at_least_once.AtLeastOnce._counted = counted_then  # type: ignore[method-assign]


def main(argv: list[str]) -> int:
    url, name, delivery, store_dir, marker = argv
    if not Path(marker).exists():
        arm(Path(marker), delivery)
    log = open_log(url)
    definition = pipe(name, delivery).compile()
    worker = Worker(log, definition, store_dir=store_dir, tune_gc=False)
    runner = threading.Thread(target=worker.run, name="kill-child-worker")
    runner.start()
    group = definition.stage("count").group
    partitions = log.partitions_of(definition.input_topic)
    ends = log.end_offsets(partitions)  # the input is complete before we start
    stop = threading.Event()
    while runner.is_alive() and not stop.wait(0.2):
        committed = log.committed_offsets(group, partitions)
        if all((committed[tp] or 0) >= end for tp, end in ends.items()):
            worker.stop()
            break
    runner.join()
    log.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
