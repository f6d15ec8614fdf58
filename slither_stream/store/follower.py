"""Follow mode: apply every changelog record, from any host, in log order.

With several hosts each running an owner of the same store (each with its own
RocksDB), the changelog is the source of truth. A :class:`ChangelogFollower` runs on a
named thread of the owner: it reads the store's changelog partitions from the live
generation's checkpoints and applies records — this host's and other hosts' — in
offset order, checkpointing in the same write batch. In this mode the owner does not
apply its own writes directly; it waits until the follower has applied them, so a
host's replica never skips a record written elsewhere and every replica converges to
the same state.

Thread-safety: records are applied while holding the owner's ``applied`` condition;
a reload holds it while it swaps generations, and the follower re-reads from the new
generation's checkpoints afterwards.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

from rocksdict import WriteBatch

from slither_stream.errors import StoreError
from slither_stream.log.base import Consumer
from slither_stream.log.types import TopicPartition
from slither_stream.store.generations import Generation

if TYPE_CHECKING:
    from slither_stream.store.owner import StoreOwner

_log = logging.getLogger(__name__)


class ChangelogFollower:
    """Applies the changelog to the owner's live generation until stopped."""

    def __init__(self, owner: StoreOwner, *, poll_timeout: float = 0.2,
                 poll_records: int = 10_000) -> None:
        self._owner = owner
        self._poll_timeout = poll_timeout
        self._poll_records = poll_records
        self._stop = threading.Event()
        self._failure: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=f"slither-store-{owner.name}-follow",
                                        daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop after the current poll (at most ``poll_timeout``) and wait for it."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    @property
    def failure(self) -> BaseException | None:
        """Why the follower stopped on its own, if it did."""
        return self._failure

    def _run(self) -> None:
        owner = self._owner
        handles_by_topic = {topic: name for name, topic in owner.topics.items()}
        consumer: Consumer | None = None
        following: Generation | None = None
        try:
            while not self._stop.is_set():
                generation = owner.current
                if generation is not following:
                    if consumer is not None:
                        consumer.close()
                    consumer = self._assign(generation)
                    following = generation
                assert consumer is not None
                records = consumer.poll_batch(self._poll_records, timeout=self._poll_timeout)
                if not records:
                    self._step_over_markers(consumer, following)
                    continue
                with owner.applied:
                    if owner.current is not following:
                        continue  # a reload swapped generations meanwhile: re-read
                    batch = WriteBatch(raw_mode=True)
                    reached: dict[TopicPartition, int] = {}
                    for record in records:
                        tp = TopicPartition(record.topic, record.partition)
                        if record.offset < owner.positions.get(tp, 0) or record.key is None:
                            continue
                        handle = following.handles[handles_by_topic[record.topic]]
                        if record.value is None:
                            batch.delete(record.key, handle)
                        else:
                            batch.put(record.key, record.value, handle)
                        reached[tp] = record.offset + 1
                    if reached:
                        following.put_checkpoints(batch, reached)
                        following.write(batch)
                        owner.positions.update(reached)
                        owner.applied.notify_all()
                owner.sizes.changed()  # other hosts' writes change the size too
                self._step_over_markers(consumer, following)
        except BaseException as error:
            if not self._stop.is_set():
                self._failure = error
                _log.exception("store %s: changelog follower stopped", owner.name)
                with owner.applied:
                    owner.applied.notify_all()
        finally:
            if consumer is not None:
                consumer.close()

    def _step_over_markers(self, consumer: Consumer, following: Generation) -> None:
        """Advance ``positions`` past transaction markers (offsets with no record) so
        that waiting for an end offset completes."""
        owner = self._owner
        positions = consumer.position(consumer.assignment())
        with owner.applied:
            if owner.current is not following:
                return
            moved = False
            for tp, position in positions.items():
                if position is not None and position > owner.positions.get(tp, 0):
                    owner.positions[tp] = position
                    moved = True
            if moved:
                owner.applied.notify_all()

    def _assign(self, generation: Generation) -> Consumer:
        owner = self._owner
        consumer = owner.log.consumer(f"{owner.app}.{owner.name}.follow",
                                      auto_offset_reset="earliest")
        partitions = [tp for topic in owner.topics.values()
                      for tp in owner.log.partitions_of(topic)]
        begins = owner.log.beginning_offsets(partitions)
        # Resume from the generation's stored checkpoints (always "record + 1", unlike
        # ``positions``, which may point past a transaction marker); records below
        # ``positions`` are skipped when they come back.
        starts = []
        for tp, checkpoint in generation.checkpoints(partitions).items():
            begin = begins[tp]
            starts.append((tp, begin if checkpoint is None else max(checkpoint, begin)))
        consumer.assign(starts)
        return consumer

    def check(self) -> None:
        """Raise if the follower died (writes would otherwise wait forever)."""
        if self._failure is not None:
            raise StoreError(
                f"store {self._owner.name!r}: the changelog follower failed: {self._failure}"
            ) from self._failure
