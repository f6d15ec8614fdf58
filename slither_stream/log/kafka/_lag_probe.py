"""Counting the records a read_committed consumer would still receive (for lag).

Offsets are not records on Kafka: every transaction leaves a commit or abort
marker in each partition it wrote, and the records of an aborted transaction keep
their offsets. A stage under exactly-once commits "last record + 1" with its
transaction, so a group that has read everything sits one marker short of the end
offset, for ever; ``end - committed`` then says 1 per partition (more after aborts)
on a drained pipe. Kafka Streams' records-lag has the same problem solved the same
way: ask a read_committed reader.

:class:`RecordCounter` does that with one long-lived, manually assigned consumer
per log (it never joins a group or commits). For each partition it reads from the
group's position towards the end offset and counts the data records it is given
(markers and aborted records are never returned). A call stops waiting for a
partition once it passed :data:`SCAN_OFFSETS` offsets there (what one fetch brings
beyond that is still counted). What it learnt is kept per partition as runs of
data offsets, so a later call only reads the offsets it has not seen: a drained
pipe costs no read at all (the range is unchanged), a pipe that moved costs the
new offsets only, and a range longer than one call's budget is read a budget per
call while the group's position stays in the scanned range.

The answer for a partition is exact once its whole range is scanned; until then
(a gap above :data:`SCAN_OFFSETS` seen for the first time, a read that timed out,
or a group whose position left the scanned range) it is the count of the scanned
part plus every offset of the rest: an upper bound, never below the truth, over by
at most the markers and aborted records in the unscanned offsets (one marker per
transaction per partition, plus whatever aborted transactions wrote there).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

from confluent_kafka import OFFSET_INVALID, KafkaError, KafkaException, Message
from confluent_kafka import Consumer as RawConsumer
from confluent_kafka import TopicPartition as KafkaTopicPartition

from slither_stream.log.kafka._config import LOGGER, KafkaSettings
from slither_stream.log.kafka._errors import describe
from slither_stream.log.types import TopicPartition

SCAN_OFFSETS = 1_000
"""Offsets one call waits to read per partition. A drained exactly-once pipe leaves
one marker per partition (a few more after aborts), so its exact lag (0) costs one
read of a handful of offsets once, then nothing; 1,000 records of a few hundred
bytes is one fetch, a few milliseconds."""

TRACKED_OFFSETS = 100_000
"""Offsets past a group's position that are scanned at most (a stopped group on a
topic that keeps growing): beyond them the answer is the upper bound."""

PROBE_TIMEOUT_S = 2.0
"""Longest one call waits for the broker (also bounded by the log's timeout);
partitions not read by then are answered with the upper bound."""

_PROBE_CONFIG = {
    # A partition's end shows as an event at once, so a range ending in markers
    # is known to be done without waiting for a record that never comes.
    "enable.partition.eof": True,
    # The broker answers a fetch at the end offset without holding it 500 ms.
    "fetch.wait.max.ms": 10,
    # A probe reads at most SCAN_OFFSETS per partition: keep the prefetch small.
    "queued.max.messages.kbytes": 4 * 1024,
    "max.partition.fetch.bytes": 1024 * 1024,
}


@dataclass
class _Scan:
    """What is known about one partition: from ``start`` up to ``scanned_to`` every
    offset was read, and ``runs`` holds the data records among them as
    ``[first, end)`` offset runs, in order."""

    start: int
    scanned_to: int
    runs: list[list[int]] = field(default_factory=list)

    def move_to(self, start: int) -> None:
        """The group moved forward to ``start`` (within the scanned range)."""
        self.start = start
        runs = self.runs
        drop = 0
        while drop < len(runs) and runs[drop][1] <= start:
            drop += 1
        if drop:
            del runs[:drop]
        if runs and runs[0][0] < start:
            runs[0][0] = start

    def counted(self) -> int:
        """Data records in ``[start, scanned_to)``."""
        return sum(last - first for first, last in self.runs)

    def add(self, offset: int) -> None:
        """A data record at ``offset`` (offsets arrive in increasing order)."""
        runs = self.runs
        if runs and runs[-1][1] == offset:
            runs[-1][1] = offset + 1
        else:
            runs.append([offset, offset + 1])
        self.scanned_to = offset + 1


class RecordCounter:
    """``count(ranges)``: records a read_committed consumer receives per range."""

    def __init__(self, settings: KafkaSettings) -> None:
        self._settings = settings
        self._timeout = min(settings.timeout, PROBE_TIMEOUT_S)
        self._lock = threading.Lock()  # one caller reads with the probe at a time
        self._scans: dict[TopicPartition, _Scan] = {}
        self._consumer: RawConsumer | None = None
        self._closed = False

    def count(self, ranges: Mapping[TopicPartition, tuple[int, int]]
              ) -> dict[TopicPartition, int]:
        """For each ``tp: (start, end)``: the data records at offsets in
        ``[start, end)`` (exact, or the upper bound described in the module doc)."""
        with self._lock:
            targets: dict[TopicPartition, tuple[int, int]] = {}
            for tp, (start, end) in ranges.items():
                scan = self._scans.get(tp)
                if scan is None or not scan.start <= start <= scan.scanned_to <= end:
                    scan = self._scans[tp] = _Scan(start, start)
                elif start != scan.start:
                    scan.move_to(start)
                limit = min(end, start + TRACKED_OFFSETS)
                if scan.scanned_to < limit:
                    targets[tp] = (min(limit, scan.scanned_to + SCAN_OFFSETS), limit)
            if targets and not self._closed:
                self._read(targets)
            result = {}
            for tp, (_, end) in ranges.items():
                scan = self._scans[tp]
                result[tp] = scan.counted() + max(0, end - scan.scanned_to)
            if len(self._scans) > 4 * max(len(ranges), 1024):
                self._scans = {tp: self._scans[tp] for tp in ranges}
            return result

    def _probe(self) -> RawConsumer:
        if self._consumer is None:
            config = self._settings.consumer_config("slither.lag-probe", "earliest",
                                                    _PROBE_CONFIG)
            self._consumer = RawConsumer(config)
        return self._consumer

    def _read(self, targets: dict[TopicPartition, tuple[int, int]]) -> None:
        """Read every partition of ``targets`` (``tp: (target, limit)``) from its
        scan's ``scanned_to`` until it passed ``target`` (or the deadline), recording
        data records below ``limit``."""
        try:
            consumer = self._probe()
            consumer.assign([KafkaTopicPartition(tp.topic, tp.partition,
                                                 self._scans[tp].scanned_to)
                             for tp in targets])
        except KafkaException as exc:
            LOGGER.warning("lag probe: cannot read %d partition(s): %s", len(targets),
                           describe(exc))
            return
        pending = dict(targets)
        deadline = time.monotonic() + self._timeout
        try:
            while pending:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    LOGGER.debug("lag probe: %d partition(s) not read within %.1f s",
                                 len(pending), self._timeout)
                    break
                for message in _next_messages(consumer, remaining):
                    self._take(message, pending)
                self._check_positions(consumer, pending)
        except KafkaException as exc:
            LOGGER.warning("lag probe failed: %s", describe(exc))
        finally:
            try:
                consumer.unassign()  # no fetching in the background between calls
            except KafkaException as exc:
                LOGGER.debug("lag probe: unassign failed: %s", describe(exc))

    def _take(self, message: Message, pending: dict[TopicPartition, tuple[int, int]]
              ) -> None:
        topic, partition = message.topic(), message.partition()
        if topic is None or partition is None:
            return
        tp = TopicPartition(topic, partition)
        wanted = pending.get(tp)
        if wanted is None:
            return
        target, limit = wanted
        scan = self._scans[tp]
        offset = message.offset()
        error = message.error()
        if error is not None:
            if error.code() == KafkaError._PARTITION_EOF and offset is not None:
                # Every offset below the partition's end was passed, markers included.
                self._passed(tp, offset, pending)
                pending.pop(tp, None)  # nothing more to read there now
            else:
                LOGGER.debug("lag probe: %s[%d]: %s", topic, partition, error)
                del pending[tp]
            return
        if offset is None or offset < scan.scanned_to:
            return  # read again after a reassignment: already counted
        if offset >= limit:
            self._passed(tp, offset, pending)
            return
        scan.add(offset)
        if scan.scanned_to >= target:
            del pending[tp]

    def _passed(self, tp: TopicPartition, offset: int,
                pending: dict[TopicPartition, tuple[int, int]]) -> None:
        """Every offset of ``tp`` below ``offset`` was read (held no data record
        beyond the ones counted)."""
        target, limit = pending[tp]
        scan = self._scans[tp]
        scan.scanned_to = max(scan.scanned_to, min(offset, limit))
        if scan.scanned_to >= target:
            del pending[tp]

    def _check_positions(self, consumer: RawConsumer,
                         pending: dict[TopicPartition, tuple[int, int]]) -> None:
        """Positions step over markers and aborted records after the last record
        returned: a partition whose position passed its target is done."""
        if not pending:
            return
        answer = consumer.position([KafkaTopicPartition(tp.topic, tp.partition)
                                    for tp in pending])
        for ktp in answer:
            tp = TopicPartition(ktp.topic, ktp.partition)
            if tp in pending and ktp.offset != OFFSET_INVALID and ktp.offset >= 0:
                self._passed(tp, ktp.offset, pending)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            consumer, self._consumer = self._consumer, None
            self._scans.clear()
        if consumer is not None:
            try:
                consumer.close()
            except KafkaException as exc:
                LOGGER.debug("closing the lag probe: %s", describe(exc))


def _next_messages(consumer: RawConsumer, timeout: float) -> list[Message]:
    """What is fetched already, else the first message (or event) within ``timeout``.
    (``consume(n, t)`` would wait for ``n`` messages or the whole ``t``.)"""
    ready = consumer.consume(500, 0)
    if ready:
        return ready
    first = consumer.poll(min(timeout, 0.1))
    return [] if first is None else [first]
