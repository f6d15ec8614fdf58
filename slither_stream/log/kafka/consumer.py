"""The Kafka consumer: group member (cooperative-sticky) or manually assigned reader.

The backend keeps the application's position per partition itself (the offset
after the last record ``poll_batch`` returned, or the target of ``seek`` /
``assign``), because librdkafka reports no position for a partition until it has
fetched from it, and ``commit()`` must commit exactly what the application saw.

Rebalances use librdkafka's incremental protocol: the backend applies each
incremental assignment first and then calls the user's ``on_assign`` (so the new
partitions are already assigned and seekable there), and calls ``on_revoke``
while the partitions are still assigned (so committing there is safe) before
unassigning them. Both run inside ``poll_batch``, on the caller's thread.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from functools import partial
from operator import itemgetter
from typing import Any, cast

from confluent_kafka import OFFSET_INVALID, KafkaError, KafkaException, Message
from confluent_kafka import Consumer as RawConsumer
from confluent_kafka import TopicPartition as KafkaTopicPartition

from slither_stream.errors import ConfigError, LogClosedError, LogError, UnknownTopicError
from slither_stream.log.base import Consumer, OffsetReset, RebalanceCallback
from slither_stream.log.kafka._config import CLIENT_LOGGER, LOGGER, KafkaSettings
from slither_stream.log.kafka._errors import (
    authorization_error,
    describe,
    error_code,
    is_unknown_topic,
)
from slither_stream.log.kafka._topics import TopicCache, check_partition, check_topic_name
from slither_stream.log.record_batch import RecordBatch
from slither_stream.log.types import Headers, Record, TopicPartition

_ERROR = Message.error
_PARTITION = Message.partition
_OFFSET = Message.offset
_HEADERS = Message.headers
_KEY = Message.key
_VALUE = Message.value
_TIMESTAMP = Message.timestamp
_TIMESTAMP_MS = itemgetter(1)


class KafkaConsumer(Consumer):
    """:class:`~slither_stream.log.base.Consumer` on confluent-kafka."""

    def __init__(self, settings: KafkaSettings, topics: TopicCache, group: str, *,
                 auto_offset_reset: OffsetReset = "earliest",
                 config: Mapping[str, Any] | None = None,
                 client_id: str | None = None) -> None:
        conf = settings.consumer_config(group, auto_offset_reset, config, client_id)
        conf["error_cb"] = self._on_client_error
        self._group = group
        self._principal = settings.principal
        self._reset: OffsetReset = auto_offset_reset
        self._timeout = settings.timeout
        self._topics = topics
        self._positions: dict[TopicPartition, int] = {}
        self._seeked: set[TopicPartition] = set()  # seeked, no record returned since
        self._assigned: set[TopicPartition] = set()
        self._paused: set[TopicPartition] = set()
        self._mode: str | None = None  # "subscribe" or "assign" once chosen
        self._only_topic: str | None = None
        """The one topic every record comes from, when there is one: records then
        share its name rather than each decoding its own (and hashing it later)."""
        self._user_assign: RebalanceCallback | None = None
        self._user_revoke: RebalanceCallback | None = None
        self._deferred: LogError | None = None  # error seen after records were taken
        self._verify_topics = False  # set when librdkafka reports an unknown topic
        self._fatal: str | None = None
        self._closed = False
        self._closing = False
        try:
            self._consumer = RawConsumer(conf)
        except KafkaException as exc:
            raise ConfigError(f"invalid Kafka consumer configuration: {describe(exc)}") from exc

    @property
    def group(self) -> str:
        return self._group

    def _check_open(self, what: str) -> None:
        if self._closed:
            raise LogClosedError(f"{what} on a closed Kafka consumer (group {self._group!r})")
        if self._fatal is not None:
            raise LogError(f"the Kafka consumer failed fatally: {self._fatal}")

    def _on_client_error(self, err: KafkaError) -> None:
        if is_unknown_topic(KafkaException(err)):
            # librdkafka reports a deleted topic here, without naming it in a
            # structured way; poll_batch checks the assigned topics against metadata.
            self._verify_topics = True
        denied = self._denied(err, None)
        if denied is not None:
            # Raised by the next poll: retrying cannot help until an ACL is added.
            if self._deferred is None:
                self._deferred = denied
            return
        if err.fatal():
            self._fatal = f"{err.name()}: {err.str()}"
            LOGGER.error("fatal Kafka consumer error: %s", self._fatal)
        else:
            CLIENT_LOGGER.warning("Kafka consumer error (group %s): %s: %s", self._group,
                                  err.name(), err.str())

    def _denied(self, err: KafkaError | KafkaException, topic: str | None) -> LogError | None:
        """The AuthorizationError ``err`` stands for (READ on the topic or group)."""
        topics = sorted({tp.topic for tp in self._assigned}) or [self._only_topic or "?"]
        return authorization_error(err, principal=self._principal, needed={
            "TOPIC": (topic or ", ".join(topics), "READ"), "GROUP": (self._group, "READ")})

    # -- membership ---------------------------------------------------------------

    def subscribe(
        self,
        topics: Sequence[str],
        *,
        on_assign: RebalanceCallback | None = None,
        on_revoke: RebalanceCallback | None = None,
    ) -> None:
        self._check_open("subscribe()")
        if isinstance(topics, str) or not topics:
            raise ConfigError(f"subscribe() takes a non-empty list of topic names, got "
                              f"{topics!r}")
        names = [check_topic_name(topic) for topic in topics]
        if self._mode == "assign":
            raise LogError("this consumer already reads assigned partitions; a consumer "
                           "either subscribes or assigns, not both")
        for name in names:
            self._topics.partitions(name)
        self._mode = "subscribe"
        self._only_topic = names[0] if len(set(names)) == 1 else None
        self._user_assign = on_assign
        self._user_revoke = on_revoke
        try:
            self._consumer.subscribe(names, on_assign=self._handle_assign,
                                     on_revoke=self._handle_revoke,
                                     on_lost=self._handle_revoke)
        except KafkaException as exc:
            raise LogError(f"cannot subscribe to {names}: {describe(exc)}") from exc

    def _handle_assign(self, consumer: RawConsumer, partitions: list[KafkaTopicPartition]
                       ) -> None:
        """Incremental assignment: assign first, then tell the user."""
        added = [TopicPartition(p.topic, p.partition) for p in partitions]
        consumer.incremental_assign(
            [KafkaTopicPartition(tp.topic, tp.partition) for tp in added])
        self._assigned.update(added)
        for tp in added:
            self._positions.pop(tp, None)
            self._seeked.discard(tp)
        if self._user_assign is not None and added:
            self._user_assign(added)

    def _handle_revoke(self, consumer: RawConsumer, partitions: list[KafkaTopicPartition]
                       ) -> None:
        """Incremental revocation (or loss): tell the user while still assigned."""
        removed = [TopicPartition(p.topic, p.partition) for p in partitions]
        try:
            if self._user_revoke is not None and removed:
                self._user_revoke(removed)
        finally:
            consumer.incremental_unassign(
                [KafkaTopicPartition(tp.topic, tp.partition) for tp in removed])
            for tp in removed:
                self._assigned.discard(tp)
                self._paused.discard(tp)
                self._positions.pop(tp, None)
                self._seeked.discard(tp)

    def assign(self, partitions: Iterable[TopicPartition | tuple[TopicPartition, int]]) -> None:
        self._check_open("assign()")
        if self._mode == "subscribe":
            raise LogError("this consumer is subscribed to a group; a consumer either "
                           "subscribes or assigns, not both")
        wanted: dict[TopicPartition, int | None] = {}
        for entry in partitions:
            if isinstance(entry, tuple) and len(entry) == 2 and isinstance(entry[0], tuple):
                tp = check_partition(entry[0])
                offset = _check_offset(entry[1], tp)
            else:
                tp, offset = check_partition(entry), None
            self._topics.check(tp)
            wanted[tp] = offset
        self._mode = "assign"
        try:
            if self._assigned:
                # assign() over a partition assigned before keeps librdkafka's old
                # position until it fetches again, and position() trusts librdkafka;
                # unassigning first resets it, as seek() does.
                self._consumer.unassign()
            self._consumer.assign([
                KafkaTopicPartition(tp.topic, tp.partition,
                                    OFFSET_INVALID if offset is None else offset)
                for tp, offset in wanted.items()
            ])
        except KafkaException as exc:
            raise LogError(f"cannot assign {sorted(wanted)}: {describe(exc)}") from exc
        self._assigned = set(wanted)
        topics = {tp.topic for tp in wanted}
        self._only_topic = topics.pop() if len(topics) == 1 else None
        self._paused &= self._assigned
        if self._paused:
            # A new assignment starts every partition fetching; keep paused ones paused.
            self._consumer.pause([KafkaTopicPartition(tp.topic, tp.partition)
                                  for tp in self._paused])
        self._positions = {tp: offset for tp, offset in wanted.items() if offset is not None}
        self._seeked = set(self._positions)

    # -- reading ------------------------------------------------------------------

    def poll_batch(self, max_records: int = 500, timeout: float = 1.0) -> list[Record]:
        return list(self.poll_records(max_records, timeout))

    def poll_records(self, max_records: int = 500, timeout: float = 1.0) -> RecordBatch:
        self._check_open("poll_batch()")
        if isinstance(max_records, bool) or not isinstance(max_records, int) \
                or max_records < 1:
            raise ConfigError(f"max_records must be a positive integer, got {max_records!r}")
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout < 0:
            raise ConfigError(f"timeout must be a non-negative number of seconds, got "
                              f"{timeout!r}")
        if self._deferred is not None:
            error, self._deferred = self._deferred, None
            raise error
        self._check_assigned_topics()
        # consume(n, t) waits until n records or t passes, so take what is already
        # fetched first, and otherwise wait for the first record only.
        records = self._convert(self._consume(max_records, 0))
        if records:
            return records
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            first = self._consume(1, max(remaining, 0.0))
            records = self._convert(first)
            if records:
                if max_records > 1 and self._deferred is None:
                    return records + self._convert(self._consume(max_records - 1, 0))
                return records
            self._check_assigned_topics()
            if not first or remaining <= 0:
                return records

    def _check_assigned_topics(self) -> None:
        """Raise :class:`UnknownTopicError` if a manually assigned topic was deleted.

        A group member needs no check (the group rebalances the partitions away);
        an assigned reader would otherwise wait on a missing topic forever.
        """
        if not self._verify_topics:
            return
        self._verify_topics = False
        if self._mode != "assign":
            return
        self._topics.refresh()
        for topic in sorted({tp.topic for tp in self._assigned}):
            if not self._topics.known(topic):
                raise UnknownTopicError(topic)

    def _consume(self, count: int, timeout: float) -> list[Message]:
        try:
            return self._consumer.consume(count, timeout)
        except KafkaException as exc:
            raise LogError(f"Kafka consume failed (group {self._group!r}): "
                           f"{describe(exc)}") from exc

    def _convert(self, messages: list[Message]) -> RecordBatch:
        """Messages to records, tracking positions. An error is raised once the
        records fetched with it have been returned (never dropping them)."""
        only_topic = self._only_topic
        if not messages or only_topic is None or any(map(_ERROR, messages)):
            return self._convert_each(messages)
        # One topic and no error (the usual batch): every column is read by a C
        # loop (map over the Message methods) rather than by bytecode per record.
        count = len(messages)
        partitions = cast(list[int], list(map(_PARTITION, messages)))
        offsets = cast(list[int], list(map(_OFFSET, messages)))
        raw_headers = list(map(_HEADERS, messages))
        headers: list[Headers] = (
            [_headers(raw) if raw else () for raw in raw_headers] if any(raw_headers)
            else [()] * count)
        batch = RecordBatch(topics=[only_topic] * count, partitions=partitions,
                            offsets=offsets, keys=list(map(_KEY, messages)),
                            values=list(map(_VALUE, messages)), headers=headers,
                            timestamps=partial(_timestamps, messages), only_topic=only_topic)
        self._returned(batch)
        return batch

    def _convert_each(self, messages: list[Message]) -> RecordBatch:
        """:meth:`_convert` one message at a time (several topics, or errors)."""
        records: list[Record] = []
        append = records.append
        only_topic = self._only_topic
        for msg in messages:
            err = msg.error()
            if err is not None:
                if err.code() != KafkaError._PARTITION_EOF and self._deferred is None:
                    self._deferred = (self._denied(err, msg.topic())
                                      or _consume_error(err, msg, self._group))
                continue
            topic = only_topic or msg.topic()
            partition = msg.partition()
            offset = msg.offset()
            assert topic is not None and partition is not None and offset is not None
            raw_headers = msg.headers()
            append(Record(topic, partition, offset, msg.key(), msg.value(),
                          _headers(raw_headers) if raw_headers else (), msg.timestamp()[1]))
        batch = RecordBatch.of(records)
        self._returned(batch)
        if not records and self._deferred is not None:
            error, self._deferred = self._deferred, None
            raise error
        return batch

    def _returned(self, batch: RecordBatch) -> None:
        """``batch`` is being returned: each partition's position is one past its
        last record there, and a seek on it is no longer pending."""
        for (topic, partition), offset in batch.last_offsets().items():
            tp = TopicPartition(topic, partition)
            self._positions[tp] = offset + 1
            self._seeked.discard(tp)

    # -- offsets ------------------------------------------------------------------

    def commit(self, offsets: Mapping[TopicPartition, int] | None = None, *,
               asynchronous: bool = False) -> None:
        self._check_open("commit()")
        if offsets is None:
            chosen = {tp: pos for tp, pos in self._current(self._assigned).items()
                      if pos is not None}
        else:
            chosen = {}
            for tp, offset in offsets.items():
                checked = check_partition(tp)
                chosen[checked] = _check_offset(offset, checked)
        if not chosen:
            return
        request = [KafkaTopicPartition(tp.topic, tp.partition, offset)
                   for tp, offset in chosen.items()]
        try:
            if asynchronous:
                self._consumer.commit(offsets=request, asynchronous=True)
                return
            answer = self._consumer.commit(offsets=request, asynchronous=False)
        except KafkaException as exc:
            denied = self._denied(exc, None)
            if denied is not None:
                raise denied from exc
            raise LogError(f"commit of group {self._group!r} failed: {describe(exc)}") from exc
        for ktp in answer or []:
            if ktp.error is not None:
                denied = self._denied(ktp.error, ktp.topic)
                if denied is not None:
                    raise denied
                raise LogError(f"commit of group {self._group!r} failed on "
                               f"{ktp.topic}[{ktp.partition}]: {ktp.error}")

    def committed(self, partitions: Iterable[TopicPartition]) -> dict[TopicPartition, int | None]:
        self._check_open("committed()")
        wanted = [self._topics.check(check_partition(tp)) for tp in partitions]
        if not wanted:
            return {}
        deadline = time.monotonic() + self._timeout
        backoff = 0.01
        found: dict[TopicPartition, int | None] = {}
        while True:
            failed = self._fetch_committed(wanted, deadline, found)
            if not failed:
                return found
            # A per-partition error (UNSTABLE_OFFSET_COMMIT while a transaction's
            # offsets are being written, a coordinator moving) is not "nothing
            # committed": reading None would re-process a committed batch.
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not all(
                    error.code() in _TRANSIENT_FETCH_ERRORS for _, error in failed):
                detail = ", ".join(f"{tp.topic}[{tp.partition}]: {error.str()}"
                                   for tp, error in failed)
                raise LogError(f"reading committed offsets of group {self._group!r} "
                               f"failed: {detail}")
            time.sleep(min(backoff, remaining))
            backoff = min(backoff * 2, 0.5)
            wanted = [tp for tp, _ in failed]

    def _fetch_committed(
        self, wanted: list[TopicPartition], deadline: float,
        found: dict[TopicPartition, int | None],
    ) -> list[tuple[TopicPartition, KafkaError]]:
        """One offset fetch into ``found``; the partitions that answered an error."""
        try:
            answer = self._consumer.committed(
                [KafkaTopicPartition(tp.topic, tp.partition) for tp in wanted],
                timeout=max(deadline - time.monotonic(), 0.1))
        except KafkaException as exc:
            denied = self._denied(exc, None)
            if denied is not None:
                raise denied from exc
            raise LogError(f"reading committed offsets of group {self._group!r} failed: "
                           f"{describe(exc)}") from exc
        failed: list[tuple[TopicPartition, KafkaError]] = []
        for k in answer:
            tp = TopicPartition(k.topic, k.partition)
            if k.error is not None:
                failed.append((tp, k.error))
            else:
                found[tp] = k.offset if k.offset >= 0 else None
        return failed

    def position(self, partitions: Iterable[TopicPartition]) -> dict[TopicPartition, int | None]:
        """Next offset per partition; None for partitions not assigned here.

        Before the first record of a partition arrives, the position is where
        reading will start: the committed offset, else the reset policy's end.
        """
        self._check_open("position()")
        wanted = [check_partition(tp) for tp in partitions]
        result: dict[TopicPartition, int | None] = {}
        unknown: list[TopicPartition] = []
        current = self._current([tp for tp in wanted if tp in self._assigned])
        for tp in wanted:
            if tp not in self._assigned:
                result[tp] = None
            elif current.get(tp) is not None:
                result[tp] = current[tp]
            else:
                unknown.append(tp)
        if unknown:
            committed = self.committed(unknown)
            for tp in unknown:
                start = committed.get(tp)
                result[tp] = start if start is not None else self._reset_offset(tp)
        return result

    def _current(self, partitions: Iterable[TopicPartition]) -> dict[TopicPartition, int | None]:
        """Known positions of assigned partitions (None where nothing is known yet).

        librdkafka's position also steps over transaction markers (and aborted
        records) it fetched after the last record, which the offset of the last
        record cannot tell: a reader seeked or assigned onto a commit marker that
        nothing follows must still see its position reach the end offset. A seek
        (or assign at an offset) resets librdkafka's position to "none" until the
        next fetch from the new offset, so a valid answer is never older than the
        seek; it is still only taken when it is not behind the seek's target.
        """
        wanted = list(partitions)
        result: dict[TopicPartition, int | None] = {
            tp: self._positions.get(tp) for tp in wanted}
        if wanted:
            try:
                answer = self._consumer.position(
                    [KafkaTopicPartition(tp.topic, tp.partition) for tp in wanted])
            except KafkaException as exc:
                raise LogError(f"cannot read the consumer position: {describe(exc)}") from exc
            for ktp in answer:
                if ktp.offset < 0:
                    continue
                tp = TopicPartition(ktp.topic, ktp.partition)
                target = self._positions.get(tp)
                if tp not in self._seeked or target is None or ktp.offset >= target:
                    result[tp] = ktp.offset
        return result

    def _reset_offset(self, tp: TopicPartition) -> int:
        try:
            low, high = self._consumer.get_watermark_offsets(
                KafkaTopicPartition(tp.topic, tp.partition), timeout=self._timeout,
                cached=False)
        except KafkaException as exc:
            raise LogError(f"cannot read the offsets of {tp.topic}[{tp.partition}]: "
                           f"{describe(exc)}") from exc
        return int(low if self._reset == "earliest" else high)

    def seek(self, partition: TopicPartition, offset: int) -> None:
        self._check_open("seek()")
        tp = check_partition(partition)
        target = _check_offset(offset, tp)
        if tp not in self._assigned:
            raise LogError(f"cannot seek {tp.topic}[{tp.partition}]: it is not assigned to "
                           f"this consumer (group {self._group!r})")
        ktp = KafkaTopicPartition(tp.topic, tp.partition, target)
        try:
            self._consumer.seek(ktp)
        except KafkaException as exc:
            if error_code(exc) != KafkaError._STATE:
                raise LogError(f"cannot seek {tp.topic}[{tp.partition}] to {target}: "
                               f"{describe(exc)}") from exc
            # The partition is assigned but its fetcher has not started yet, so
            # librdkafka refuses to seek: re-assign it at the wanted offset.
            plain = KafkaTopicPartition(tp.topic, tp.partition)
            self._consumer.incremental_unassign([plain])
            self._consumer.incremental_assign([ktp])
            if tp in self._paused:
                self._consumer.pause([plain])
        self._positions[tp] = target
        self._seeked.add(tp)

    # -- flow control ---------------------------------------------------------------

    def _assigned_only(self, partitions: Iterable[TopicPartition], what: str
                       ) -> list[TopicPartition]:
        wanted = [check_partition(tp) for tp in partitions]
        missing = [tp for tp in wanted if tp not in self._assigned]
        if missing:
            raise LogError(f"cannot {what} {missing}: not assigned to this consumer "
                           f"(group {self._group!r})")
        return wanted

    def pause(self, partitions: Iterable[TopicPartition]) -> None:
        self._check_open("pause()")
        wanted = self._assigned_only(partitions, "pause")
        if wanted:
            self._consumer.pause([KafkaTopicPartition(tp.topic, tp.partition)
                                  for tp in wanted])
            self._paused.update(wanted)

    def resume(self, partitions: Iterable[TopicPartition]) -> None:
        self._check_open("resume()")
        wanted = self._assigned_only(partitions, "resume")
        if wanted:
            self._consumer.resume([KafkaTopicPartition(tp.topic, tp.partition)
                                   for tp in wanted])
            self._paused.difference_update(wanted)

    def paused(self) -> set[TopicPartition]:
        return set(self._paused)

    def assignment(self) -> set[TopicPartition]:
        return set(self._assigned)

    # -- transactions and lifecycle -------------------------------------------------

    def group_metadata(self) -> Any:
        """librdkafka's consumer group metadata, for ``send_offsets_to_transaction``."""
        self._check_open("group_metadata()")
        return self._consumer.consumer_group_metadata()

    def close(self) -> None:
        if self._closed or self._closing:
            return
        # Still open while librdkafka runs the final on_revoke (which may commit).
        self._closing = True
        try:
            if self._mode == "subscribe" and not self._assigned:
                # librdkafka (2.16, cooperative) closing a member that owns no
                # partitions skips its LeaveGroup: the broker keeps it until its
                # session times out, and a rebalance under way meanwhile waits for
                # it (members stalled 10 s, their commits queued behind the join).
                # unsubscribe() first takes the path that does leave.
                self._consumer.unsubscribe()
            self._consumer.close()
        except KafkaException as exc:
            raise LogError(f"closing the Kafka consumer of group {self._group!r} failed: "
                           f"{describe(exc)}") from exc
        finally:
            self._closed = True
            self._assigned.clear()
            self._paused.clear()
            self._positions.clear()
            self._seeked.clear()


def _timestamps(messages: list[Message]) -> list[int]:
    """The timestamps column of a batch, read when first asked for."""
    return list(map(_TIMESTAMP_MS, map(_TIMESTAMP, messages)))


def _headers(raw: dict[str, str | bytes | None] | list[tuple[str, str | bytes | None]]
             ) -> Headers:
    """librdkafka headers as the log's ``((name, bytes), ...)`` (None becomes b"")."""
    if isinstance(raw, list):
        # librdkafka's usual shape, with bytes values: reuse its pairs as they are.
        given = tuple(raw)
        for pair in given:
            if type(pair[1]) is not bytes:
                break
        else:
            return cast(Headers, given)  # every value checked: bytes
    pairs = raw.items() if isinstance(raw, dict) else raw
    return tuple(
        (name, value if isinstance(value, bytes) else (value or "").encode())
        for name, value in pairs
    )


def _check_offset(offset: object, tp: TopicPartition) -> int:
    if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
        raise ConfigError(f"offset for {tp.topic}[{tp.partition}] must be a non-negative "
                          f"integer, got {offset!r}")
    return offset


def _consume_error(err: KafkaError, msg: Message, group: str) -> LogError:
    topic = msg.topic()
    if topic and is_unknown_topic(KafkaException(err)):
        return UnknownTopicError(topic)
    where = f" on {topic}[{msg.partition()}]" if topic else ""
    return LogError(f"Kafka consumer of group {group!r} got an error{where}: "
                    f"{err.name()}: {err.str()}")


_TRANSIENT_FETCH_ERRORS = frozenset({
    KafkaError.UNSTABLE_OFFSET_COMMIT,
    KafkaError.COORDINATOR_LOAD_IN_PROGRESS,
    KafkaError.COORDINATOR_NOT_AVAILABLE,
    KafkaError.NOT_COORDINATOR,
    KafkaError.REQUEST_TIMED_OUT,
    KafkaError._TIMED_OUT,
    KafkaError._TRANSPORT,
})
"""OffsetFetch answers per partition that mean "ask again": a transaction's offsets
still being written (KIP-447), or the group coordinator moving or loading."""
