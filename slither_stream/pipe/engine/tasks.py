"""The tasks of a stage with keyed state: one per input partition it owns.

A task is (stage, input partition); it holds one
:class:`~slither_stream.store.partitioned.task_store.TaskStore` per state store of
the stage, under ``<state dir>/<namespace>/<stage>.state/<store>/<partition>`` (a
name no global store's directory can have), backed by
partition p of the store's changelog. :class:`StageTasks` follows the consumer
group:

* **assigned** — the partition is paused and its stores are restored from their
  changelogs on the stage's restore thread, so the stage's other partitions keep
  running; once restored the partition is resumed. A worker restarting on the same
  host reuses its local instances and reads only the changelog tail past their
  checkpoints; an instance that does not open (corrupt files) or whose checkpoint
  is past the changelog's end is wiped and restored in full, and the log says so.
* **revoked** — (after the stage committed) a restore still under way is cancelled
  and the task's stores are closed; they stay on disk for the next time. A restore
  still waiting behind another partition's is dropped at once: the revoke (inside
  the group's rebalance) never waits for a partition the stage keeps.

Records of a partition still restoring that a poll returned anyway are dropped and
the partition moved back to the first of them, so they are read again once it is
restored. With standby replicas (:mod:`.standbys`) a partition this member followed
hands its up-to-date instances over, and the restore reads only their tail.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from slither_stream.errors import ConfigError, StoreError, UnknownTopicError
from slither_stream.log.base import Consumer, Log
from slither_stream.log.record_batch import RecordBatch
from slither_stream.log.types import TopicPartition, TopicSpec
from slither_stream.pipe.definition import StagePlan
from slither_stream.pipe.engine.standbys import StandbyFollower
from slither_stream.store.partitioned.recovery import (
    CheckpointAheadError,
    ProgressCallback,
    RestoreCancelled,
    restore_task,
)
from slither_stream.store.partitioned.task_store import CorruptTaskStoreError, TaskStore

_log = logging.getLogger(__name__)


@dataclass
class _Restore:
    """One partition being restored (by the restore thread)."""

    partition: int
    cancel: threading.Event = field(default_factory=threading.Event)
    started: bool = False
    """The restore thread took the job on (guarded by :attr:`StageTasks._claims`)."""
    finished: threading.Event = field(default_factory=threading.Event)
    stores: dict[str, TaskStore] = field(default_factory=dict)
    records: int = 0
    error: BaseException | None = None


class StageTasks:
    """The tasks of one stage in this process (see the module docstring). Called
    from the stage's thread (rebalance callbacks run inside its poll)."""

    def __init__(self, log: Log, plan: StagePlan, *, namespace: str, state_dir: Path,
                 standby_replicas: int = 0,
                 on_progress: ProgressCallback | None = None) -> None:
        self.log = log
        self.plan = plan
        self.topics = dict(plan.changelogs)
        """Changelog topic of each state store."""
        self.directory = state_dir / namespace / f"{plan.name}.state"
        self._on_progress = on_progress
        self.stores: dict[int, dict[str, TaskStore]] = {}
        """The restored stores of each owned partition, by store name."""
        self._restoring: dict[int, _Restore] = {}
        self._jobs: queue.Queue[_Restore | None] = queue.Queue()
        self._claims = threading.Lock()
        """Orders a job's start (restore thread) against its cancellation (revoke)."""
        self._thread: threading.Thread | None = None
        self.restored_records = 0
        """Changelog records applied by every restore of this run (for tests and
        benchmarks: a restart that reuses local state restores only a tail)."""
        self.standby_replicas = standby_replicas
        self.standbys: StandbyFollower | None = None
        """Follows other members' partitions (``standby_replicas``), once started."""

    def start_standbys(self, consumer: Consumer) -> None:
        """Follow the state of partitions other members own (see
        :mod:`slither_stream.pipe.engine.standbys`), if the pipe asks for standbys."""
        if self.standby_replicas < 1 or self.standbys is not None:
            return
        self.standbys = StandbyFollower(
            self.log, group=self.plan.group, input_topic=self.plan.input_topic,
            topics=self.topics, replicas=self.standby_replicas, path=self._path,
            identity=lambda: (None, consumer.assignment())).start()

    # -- start and stop ---------------------------------------------------------------

    def ensure_changelogs(self) -> None:
        """Create missing changelogs (compacted, the input's partition count); refuse
        one with another partition count, naming it and both counts."""
        wanted = self.plan.partitions
        try:
            found_input = self.log.describe_topic(self.plan.input_topic).partitions
        except UnknownTopicError:
            found_input = wanted
        missing = []
        for store, topic in self.topics.items():
            try:
                found = self.log.describe_topic(topic).partitions
            except UnknownTopicError:
                missing.append(TopicSpec(topic, found_input, compacted=True))
                continue
            if found != found_input:
                raise ConfigError(
                    f"stage {self.plan.name!r}: state store {store!r} has changelog {topic} "
                    f"with {found} partitions, but its input {self.plan.input_topic} has "
                    f"{found_input}: changelog partition p must back input partition p. "
                    "Recreate the changelog with the input's partition count (its state "
                    "is then rebuilt from nothing) or restore the input's count.")
        if missing:
            self.log.create_topics(missing, exist_ok=True)

    def close(self) -> None:
        """Cancel restores, stop the restore and standby threads, close every store."""
        if self.standbys is not None:
            self.standbys.stop()
            self.standbys = None
        for job in list(self._restoring.values()):
            job.cancel.set()
        if self._thread is not None:
            self._jobs.put(None)
            self._thread.join()
            self._thread = None
        for job in self._restoring.values():
            _close_all(job.stores)
        self._restoring.clear()
        for stores in self.stores.values():
            _close_all(stores)
        self.stores.clear()

    # -- the group's decisions ----------------------------------------------------------

    def assigned(self, partitions: Iterable[TopicPartition], consumer: Consumer) -> None:
        """Pause ``partitions`` and restore their tasks in the background."""
        mine = [tp for tp in partitions if tp.topic == self.plan.input_topic]
        if not mine:
            return
        consumer.pause(mine)
        for tp in mine:
            if tp.partition in self.stores or tp.partition in self._restoring:
                continue
            job = _Restore(tp.partition)
            self._restoring[tp.partition] = job
            self._start_thread()
            self._jobs.put(job)

    def revoked(self, partitions: Iterable[TopicPartition]) -> None:
        """Close the tasks of ``partitions`` (the stage committed already)."""
        for tp in partitions:
            if tp.topic != self.plan.input_topic:
                continue
            job = self._restoring.pop(tp.partition, None)
            if job is not None:
                with self._claims:
                    job.cancel.set()
                    started = job.started
                if started:  # a restore not yet begun has nothing to wait for or close
                    job.finished.wait()
                    _close_all(job.stores)
            stores = self.stores.pop(tp.partition, None)
            if stores is not None:
                _close_all(stores)

    @property
    def restoring(self) -> set[TopicPartition]:
        """Partitions whose tasks are being restored (they stay paused)."""
        return {TopicPartition(self.plan.input_topic, p) for p in self._restoring}

    def is_restoring(self, partition: int) -> bool:
        """Whether ``partition``'s tasks are being restored (safe from any thread:
        interactive queries ask it from the HTTP server's)."""
        return partition in self._restoring

    def collect(self, consumer: Consumer, *, hold: bool) -> None:
        """Take over the tasks whose restore finished; resume their partitions unless
        ``hold`` (backpressure keeps the stage paused; it resumes them later).
        Raises if a restore failed."""
        done = [job for job in self._restoring.values() if job.finished.is_set()]
        for job in done:
            del self._restoring[job.partition]
            if job.error is not None:
                _close_all(job.stores)
                raise StoreError(f"stage {self.plan.name!r}: restoring the state of "
                                 f"partition {job.partition} failed: {job.error}"
                                 ) from job.error
            self.stores[job.partition] = job.stores
            self.restored_records += job.records
        if done and not hold:
            consumer.resume([TopicPartition(self.plan.input_topic, job.partition)
                             for job in done])

    def drop_restoring(self, records: RecordBatch, consumer: Consumer) -> RecordBatch:
        """Records of partitions not restored yet: dropped, and their partitions
        moved back to the first of them (read again once restored)."""
        if not self._restoring:
            return records
        restoring = set(self._restoring)
        kept = records.where(lambda _topic, partition: partition not in restoring)
        if len(kept) == len(records):
            return kept
        firsts = records.first_offsets()
        for (topic, partition), offset in firsts.items():
            if partition in restoring:
                consumer.seek(TopicPartition(topic, partition), offset)
        return kept

    # -- the restore thread ------------------------------------------------------------

    def _start_thread(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._restore_loop, name=f"slither-restore-{self.plan.group}",
                daemon=True)
            self._thread.start()

    def _restore_loop(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            with self._claims:
                job.started = not job.cancel.is_set()
            try:
                if job.started:
                    self._restore(job)
            except RestoreCancelled:
                pass
            except BaseException as error:
                job.error = error
            finally:
                job.finished.set()

    def _restore(self, job: _Restore) -> None:
        started = time.monotonic()
        taken = self.standbys.take(job.partition) if self.standbys is not None else None
        for attempt in (1, 2):
            try:
                job.stores = taken or {store: self._open(store, job.partition)
                                       for store in self.topics}
                taken = None
                job.records += restore_task(
                    self.log, self.plan.name, job.partition,
                    {self.topics[store]: task for store, task in job.stores.items()},
                    group=f"{self.plan.group}.restore", cancel=job.cancel,
                    on_progress=self._on_progress)
                break
            except (CheckpointAheadError, CorruptTaskStoreError) as error:
                _close_all(job.stores)
                job.stores = {}
                if attempt == 2:
                    raise
                _log.warning("stage %s: state of partition %d wiped (%s); restoring it "
                             "from the changelog", self.plan.name, job.partition, error)
                for store in self.topics:
                    TaskStore.wipe(self._path(store, job.partition))
        _log.info("stage %s: state of partition %d restored: %d changelog records in "
                  "%.1f s", self.plan.name, job.partition, job.records,
                  time.monotonic() - started)

    def _path(self, store: str, partition: int) -> Path:
        return self.directory / store / str(partition)

    def _open(self, store: str, partition: int) -> TaskStore:
        return TaskStore(self._path(store, partition), store=store, partition=partition)


def _close_all(stores: dict[str, TaskStore]) -> None:
    for store in stores.values():
        store.close()

