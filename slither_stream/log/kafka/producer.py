"""The Kafka producer: idempotent, murmur2-partitioned, optionally transactional.

Delivery reports are served by ``poll(0)`` every ``_POLL_EVERY`` ``produce`` calls
(``_POLL_EVERY_ERRORS_ONLY`` when only failures are reported) and by ``flush``, so
callbacks always run on the producing thread. (A ``poll(0)`` per record would be a
call into librdkafka per record; a report is at most that many records late, and
``flush`` serves them all.) A full local queue
(``BufferError``) is backpressure: ``produce`` serves delivery reports until there
is room, bounded by the record timeout, and never drops the record.
"""

from __future__ import annotations

import threading
import time
import warnings
from collections.abc import Iterable, Mapping, Sequence
from functools import partial
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message
from confluent_kafka import Producer as RawProducer
from confluent_kafka import TopicPartition as KafkaTopicPartition

from slither_stream.errors import (
    AuthorizationError,
    ConfigError,
    LogClosedError,
    LogError,
    ProduceError,
    TransactionError,
    TransactionInProgressError,
)
from slither_stream.log.base import DELIVERY_REPORTS, Consumer, DeliveryCallback, Producer
from slither_stream.log.kafka._config import CLIENT_LOGGER, LOGGER, KafkaSettings
from slither_stream.log.kafka._deadline import CallAbandonedError, call_with_deadline
from slither_stream.log.kafka._errors import (
    CLUSTER,
    authorization_error,
    describe,
    kafka_error_of,
)
from slither_stream.log.kafka._topics import TopicCache
from slither_stream.log.types import Headers, Outgoing, RecordMetadata, TopicPartition

# confluent-kafka parses produce()'s keyword arguments slowly (it walks its list of
# keywords per call), so every argument is given positionally, in its order (topic,
# value, key, partition, callback, on_delivery, timestamp, headers): produce() runs
# once per record. The contract tests' keys, headers and partitions would fail if
# that order changed.
_ANY_PARTITION = -1  # librdkafka's RD_KAFKA_PARTITION_UA: the partitioner decides
_NOW = 0  # timestamp 0: the time of producing
_QUEUE_FULL_POLL = 0.05  # seconds each poll waits for delivery reports to free room
_POLL_EVERY = 32  # produce() calls between two polls for delivery reports
# With delivery.report.only.error there is nothing to serve but failures (which
# flush raises anyway), so polls can be much rarer: each one is a call into
# librdkafka on the stage's thread.
_POLL_EVERY_ERRORS_ONLY = 1024
# A fresh broker loads its transaction coordinator lazily; librdkafka retries
# init_transactions meanwhile, so allow it longer than an ordinary request.
_INIT_TRANSACTIONS_S = 30.0
# send_offsets_to_transaction may ignore its timeout (see _deadline); past the
# timeout plus this grace the call is abandoned and the client replaced.
_HUNG_CALL_GRACE_S = 5.0
# librdkafka's codes for "a newer instance with this transactional.id fenced us".
_FENCED = frozenset({KafkaError._FENCED, KafkaError.PRODUCER_FENCED})


class KafkaProducer(Producer):
    """:class:`~slither_stream.log.base.Producer` on confluent-kafka."""

    def __init__(self, settings: KafkaSettings, topics: TopicCache, *,
                 transactional_id: str | None = None,
                 config: Mapping[str, Any] | None = None,
                 delivery_reports: str = "all") -> None:
        conf = settings.producer_config(config, transactional_id)
        conf["error_cb"] = self._on_client_error
        if delivery_reports not in DELIVERY_REPORTS:
            raise ConfigError(f"delivery_reports must be one of {', '.join(DELIVERY_REPORTS)}, "
                              f"got {delivery_reports!r}")
        self._errors_only = delivery_reports == "errors"
        if self._errors_only:
            # No report (Message object and Python call) per delivered record.
            conf["delivery.report.only.error"] = True
        self._timeout = settings.timeout
        self._record_timeout = float(conf.get("message.timeout.ms", 300_000)) / 1000
        self._topics = topics
        self._transactional_id = transactional_id
        self._principal = settings.principal
        self._failures: list[ProduceError | AuthorizationError] = []
        self._failures_lock = threading.Lock()
        # The report of every record produced without a callback of its own: the
        # client's default, so no callback is passed (and parsed) per record.
        conf["on_delivery"] = self._record_failure
        self._fatal: str | None = None
        self._fenced = False  # the fatal error is fencing: a newer instance took over
        self._closed = False
        self._unpolled = 0  # produce() calls since delivery reports were last served
        self._poll_every = _POLL_EVERY_ERRORS_ONLY if self._errors_only else _POLL_EVERY
        self._conf = conf  # kept to build a replacement after a fatal error
        self._ready = transactional_id is None  # init_transactions done on this client
        self._in_transaction = False
        self.replacements = 0
        """How often a fatal error made this producer replace its librdkafka client."""
        try:
            self._producer = RawProducer(conf)
        except KafkaException as exc:
            raise ConfigError(f"invalid Kafka producer configuration: {describe(exc)}") from exc
        if transactional_id is not None:
            try:
                self._init_transactions()
            except (TransactionError, AuthorizationError):
                try:
                    self._producer.close()
                except KafkaException as exc:  # a fatal state says so again on close
                    LOGGER.debug("closing a producer that failed to start: %s",
                                 describe(exc))
                raise

    # -- producing ----------------------------------------------------------------

    def produce(
        self,
        topic: str,
        value: bytes | None,
        key: bytes | None = None,
        *,
        partition: int | None = None,
        headers: Headers | Sequence[tuple[str, bytes]] | None = None,
        timestamp_ms: int | None = None,
        on_delivery: DeliveryCallback | None = None,
    ) -> None:
        if self._closed or self._fatal is not None:
            self._check_usable()
        if partition is None:
            self._topics.partitions(topic)  # raises UnknownTopicError
            target = _ANY_PARTITION
        else:
            if isinstance(partition, bool) or not isinstance(partition, int) or partition < 0:
                raise ConfigError(f"partition must be a non-negative integer, got {partition!r}")
            self._topics.check(TopicPartition(topic, partition))
            target = partition
        callback = None if on_delivery is None else partial(_deliver, on_delivery)
        record_headers: list[tuple[str, str | bytes | None]] | None = (
            list(headers) if headers else None)
        deadline: float | None = None
        while True:
            try:
                self._producer.produce(topic, value, key, target, callback, None,
                                       timestamp_ms or _NOW, record_headers)
                break
            except BufferError:
                # Queue full: serve delivery reports (which frees room) and retry.
                now = time.monotonic()
                if deadline is None:
                    deadline = now + self._record_timeout
                elif now >= deadline:
                    raise ProduceError(
                        f"the Kafka producer queue stayed full for {self._record_timeout:g}s; "
                        f"record to {topic!r} not queued"
                    ) from None
                self._producer.poll(_QUEUE_FULL_POLL)
            except KafkaException as exc:
                err = kafka_error_of(exc)
                if self._transactional_id is not None and err is not None \
                        and err.code() == KafkaError._STATE:
                    raise TransactionError(
                        f"cannot produce to {topic!r}: a transactional producer must call "
                        f"begin_transaction() first ({describe(exc)})"
                    ) from exc
                raise ProduceError(f"cannot produce to {topic!r}: {describe(exc)}") from exc
        self._unpolled += 1
        if self._unpolled >= self._poll_every:
            self._unpolled = 0
            self._producer.poll(0)

    def produce_many(self, records: Iterable[Outgoing]) -> None:
        """Each record straight to librdkafka, checking each topic once per call;
        a full queue or a client error takes :meth:`produce`'s path for that record
        (it waits for room, or raises naming the error). Measured on a passthrough
        stage: the per-record wrapper cost more than librdkafka's own produce."""
        if self._closed or self._fatal is not None:
            self._check_usable()
        native = self._producer.produce
        checked: set[str] = set()
        last_topic = None  # a stage writes runs of one topic (the same str object)
        queued = 0
        for topic, value, key, headers in records:
            if topic is not last_topic:
                if topic not in checked:
                    self._topics.partitions(topic)  # raises UnknownTopicError
                    checked.add(topic)
                last_topic = topic
            try:
                # confluent-kafka takes headers as a list or dict, not a tuple; and
                # each argument passed costs it a conversion, so pass none unneeded
                # (the delivery report goes to the client's on_delivery, set above).
                if headers:
                    native(topic, value, key, _ANY_PARTITION, None, None, _NOW,
                           list(headers))
                else:
                    native(topic, value, key)
            except (BufferError, KafkaException):
                self.produce(topic, value, key, headers=headers)
                continue  # produce() counted it towards the next poll itself
            queued += 1
        self._unpolled += queued
        if self._unpolled >= self._poll_every:
            self._unpolled = 0
            self._producer.poll(0)

    def send(self, topic: str, value: bytes | None, key: bytes | None = None, *,
             partition: int | None = None,
             headers: Headers | Sequence[tuple[str, bytes]] | None = None,
             timeout: float | None = 30.0) -> RecordMetadata:
        if self._errors_only:
            raise ConfigError("send() reports where the record was stored, which a producer "
                              "made with delivery_reports='errors' never learns; use 'all'")
        return super().send(topic, value, key, partition=partition, headers=headers,
                            timeout=timeout)

    def _check_usable(self) -> None:
        """Raise why this producer cannot produce (closed, or failed fatally)."""
        if self._closed:
            raise LogClosedError("produce() on a closed Kafka producer")
        raise ProduceError(f"the Kafka producer failed fatally: {self._fatal}; "
                           "create a new producer")

    def flush(self, timeout: float | None = None) -> None:
        if self._closed:
            raise LogClosedError("flush() on a closed Kafka producer")
        try:
            remaining = self._producer.flush(-1 if timeout is None else timeout)
        except KafkaException as exc:
            raise ProduceError(f"the Kafka producer failed while flushing: "
                               f"{describe(exc)}") from exc
        self._raise_failures()
        if remaining:
            raise LogError(f"{remaining} record(s) still unacknowledged after {timeout}s")

    def _record_failure(self, err: KafkaError | None, msg: Message) -> None:
        """Delivery callback for records without their own: keep failures for flush."""
        if err is not None:
            with self._failures_lock:
                self._failures.append(self._delivery_error(err, msg))

    def _delivery_error(self, err: KafkaError, msg: Message) -> ProduceError | AuthorizationError:
        """A failed delivery: an AuthorizationError when WRITE on the topic (or the
        cluster's IDEMPOTENT_WRITE) is missing, else a ProduceError."""
        return self._denied(err, msg.topic() or "?") or _produce_error(err, msg)

    def _denied(self, err: KafkaError | KafkaException, topic: str) -> AuthorizationError | None:
        return authorization_error(err, principal=self._principal, needed={
            "TOPIC": (topic, "WRITE"), "CLUSTER": (CLUSTER, "IDEMPOTENT_WRITE"),
            "TRANSACTIONAL_ID": (self._transactional_id or "?", "WRITE")})

    def _raise_failures(self) -> None:
        with self._failures_lock:
            failures, self._failures = self._failures, []
        if failures:
            first = next((f for f in failures if isinstance(f, AuthorizationError)),
                         failures[0])
            if len(failures) == 1 or isinstance(first, AuthorizationError):
                raise first
            raise ProduceError(f"{len(failures)} records were not delivered; first: {first}",
                               undelivered=len(failures))

    def _on_client_error(self, err: KafkaError) -> None:
        """librdkafka's error callback: fatal errors poison the producer (a
        transactional one replaces its client at the next transaction call, unless
        it was fenced)."""
        if err.fatal():
            self._fatal = f"{err.name()}: {err.str()}"
            self._fenced = self._fenced or err.code() in _FENCED
            LOGGER.error("fatal Kafka producer error: %s", self._fatal)
        else:
            CLIENT_LOGGER.warning("Kafka producer error: %s: %s", err.name(), err.str())

    # -- transactions -------------------------------------------------------------
    #
    # Recovery from fatal errors. A broker crash can leave librdkafka's transaction
    # state machine in a fatal state (an abort answered with INVALID_TXN_STATE by the
    # restarted coordinator; an abort that cannot finish while the broker is gone).
    # librdkafka's only way out is a new client: the producer closes the broken one
    # and builds a fresh one with the same transactional.id, whose init_transactions
    # fences the old epoch and makes the coordinator finish the old transaction
    # (abort it, or complete a commit it had already accepted). The failed call
    # raises TransactionError as any aborted transaction does; the caller re-reads
    # from its group's committed offsets, which tell which way the coordinator went.
    # Fencing (another live instance owns the transactional.id) is different: this
    # instance is a zombie and must stop, so a fenced producer stays poisoned.

    @property
    def transactional(self) -> bool:
        return self._transactional_id is not None

    def _require_transactional(self, what: str) -> None:
        if self._closed:
            raise LogClosedError(f"{what} on a closed Kafka producer")
        if self._transactional_id is None:
            raise TransactionError(
                f"{what} needs a transactional producer: create it with "
                "log.producer(transactional_id=...)"
            )

    def _init_transactions(self) -> None:
        """Register the transactional.id on the current client (fences older epochs
        and ends their open transaction). Raises :class:`TransactionError`; a
        timeout (broker unreachable) leaves the client to be initialised again by
        the next :meth:`begin_transaction`."""
        try:
            self._producer.init_transactions(max(self._timeout, _INIT_TRANSACTIONS_S))
        except KafkaException as exc:
            denied = self._denied(exc, "?")
            if denied is not None:
                raise denied from exc
            err = kafka_error_of(exc)
            if err is not None and err.fatal():
                self._fatal = describe(exc)
                self._fenced = err.code() in _FENCED
            raise TransactionError(
                f"cannot initialise transactions for transactional_id "
                f"{self._transactional_id!r}: {describe(exc)}"
            ) from exc
        self._ready = True

    def _replace_client(self, reason: str, *, abandon: bool = False) -> None:
        """Swap the broken librdkafka client for a new one with the same
        transactional.id (see the section comment). ``abandon``: a call is still
        blocked in the broken client, which its thread closes when the call returns.
        Raises :class:`TransactionError` if the new client cannot be initialised
        yet; the next :meth:`begin_transaction` tries again."""
        LOGGER.warning("transactional producer %r failed (%s); replacing its client",
                       self._transactional_id, reason)
        broken = self._producer
        self._ready = False
        self._in_transaction = False
        if not abandon:
            _close_abandoned(broken)
        with self._failures_lock:
            self._failures.clear()  # purge reports of the dead transaction
        self._producer = RawProducer(self._conf)
        self._fatal = None
        self._fenced = False
        self.replacements += 1
        self._init_transactions()

    def _recover(self) -> None:
        """Before a transaction: replace a client a fatal error broke, or finish
        initialising one whose initialisation timed out."""
        if self._fatal is not None:
            if self._fenced:
                raise TransactionError(
                    f"the transactional producer {self._transactional_id!r} was fenced "
                    f"({self._fatal}): another instance with this transactional_id is "
                    "running, so this one must stop")
            self._replace_client(self._fatal)
        elif not self._ready:
            self._init_transactions()

    def begin_transaction(self) -> None:
        self._require_transactional("begin_transaction()")
        self._recover()
        try:
            self._producer.begin_transaction()
        except KafkaException as exc:
            raise self._transaction_error("begin", exc) from exc
        self._in_transaction = True

    def send_offsets_to_transaction(
        self, consumer: Consumer, offsets: Mapping[TopicPartition, int]
    ) -> None:
        self._require_transactional("send_offsets_to_transaction()")
        from slither_stream.log.kafka.consumer import KafkaConsumer

        if not isinstance(consumer, KafkaConsumer):
            raise ConfigError(
                "send_offsets_to_transaction needs a consumer of the same Kafka log, got "
                f"{type(consumer).__name__}"
            )
        positions = []
        for tp, offset in offsets.items():
            if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
                raise ConfigError(f"offset for {tp} must be a non-negative integer, "
                                  f"got {offset!r}")
            positions.append(KafkaTopicPartition(tp[0], tp[1], offset))
        if not positions:
            return
        client, group = self._producer, consumer.group_metadata()
        try:
            call_with_deadline(
                partial(client.send_offsets_to_transaction, positions, group, self._timeout),
                self._timeout + _HUNG_CALL_GRACE_S,
                name=f"slither-kafka-send-offsets-{self._transactional_id}",
                after_abandoned=partial(_close_abandoned, client))
        except KafkaException as exc:
            raise self._transaction_error("add offsets to", exc) from exc
        except CallAbandonedError as exc:
            reason = (f"send_offsets_to_transaction did not return within "
                      f"{self._timeout + _HUNG_CALL_GRACE_S:g}s (librdkafka #5456: it can "
                      "hang when the group coordinator went away)")
            try:
                self._replace_client(reason, abandon=True)
            except TransactionError as again:
                reason += f"; replacing the producer client failed too, retried at the " \
                          f"next begin_transaction(): {again}"
            raise TransactionError(
                f"cannot add offsets to the transaction: {reason} (the producer client was "
                "replaced: the transaction is over, aborted)") from exc

    def commit_transaction(self, timeout: float | None = None) -> None:
        self._require_transactional("commit_transaction()")
        limit = self._timeout if timeout is None else timeout
        deadline = time.monotonic() + limit
        while True:
            try:
                self._producer.commit_transaction(max(deadline - time.monotonic(), 0.001))
                break
            except KafkaException as exc:
                err = kafka_error_of(exc)
                # librdkafka's contract: a retriable commit error means "call again".
                if err is not None and err.retriable() and not err.fatal():
                    if time.monotonic() < deadline:
                        continue
                    raise TransactionInProgressError(
                        f"the transaction commit did not finish within {limit:g}s and is "
                        f"still in progress ({describe(exc)}); call commit_transaction() "
                        "again to resume it") from exc
                raise self._transaction_error("commit", exc) from exc
        self._in_transaction = False
        self._raise_failures()

    def abort_transaction(self, timeout: float | None = None) -> None:
        """Abort the open transaction. An abort that cannot finish (the broker is
        unreachable, or the coordinator answers with a fatal error) replaces the
        client: the new one's initialisation ends the transaction on the
        coordinator. No-op when no transaction is open (for example after a failed
        call already replaced the client)."""
        self._require_transactional("abort_transaction()")
        if self._in_transaction and not self._fenced:
            try:
                self._producer.abort_transaction(self._timeout if timeout is None else timeout)
            except KafkaException as exc:
                err = kafka_error_of(exc)
                if err is not None and err.code() in _FENCED:
                    raise self._transaction_error("abort", exc) from exc
                self._replace_client(f"abort failed: {describe(exc)}")
        self._in_transaction = False
        # Records of the aborted transaction fail with a purge error; they were
        # discarded on purpose, so they are not reported by a later flush().
        with self._failures_lock:
            self._failures.clear()

    def _transaction_error(self, action: str, exc: KafkaException
                           ) -> TransactionError | AuthorizationError:
        """Map a transaction failure. A fatal one replaces the client (the
        transaction is over), unless it is fencing, which poisons the producer. A
        missing ACL is an AuthorizationError (abort and stop: retrying cannot help)."""
        with self._failures_lock:
            failed = next((f for f in self._failures if isinstance(f, AuthorizationError)),
                          None)
        denied = failed or self._denied(exc, "a topic of the transaction")
        if denied is not None:
            return denied
        err = kafka_error_of(exc)
        text = f"cannot {action} the transaction: {describe(exc)}"
        if err is None or not err.fatal():
            if err is not None and err.txn_requires_abort():
                text += " (call abort_transaction() and retry the work)"
            return TransactionError(text)
        self._fatal = describe(exc)
        self._fenced = self._fenced or err.code() in _FENCED
        if self._fenced:
            return TransactionError(
                f"{text} (fatal: the producer is fenced by a newer instance with the same "
                "transactional_id; this one must stop)")
        try:
            self._replace_client(self._fatal)
        except TransactionError as again:
            text += f"; replacing the producer client failed too, retried at the next " \
                    f"begin_transaction(): {again}"
        return TransactionError(
            f"{text} (the producer client was replaced: the transaction is over, aborted "
            "unless the coordinator had accepted its commit; read the committed offsets)")

    # -- lifecycle ----------------------------------------------------------------

    def close(self, timeout: float | None = 30.0) -> None:
        if self._closed:
            return
        self._closed = True
        # An open transaction is abandoned (the coordinator aborts it, or the next
        # instance's init_transactions does): its records are not waited for, and
        # their purge reports are not failures.
        abandoned = self._fatal is not None or self._in_transaction
        try:
            remaining = (len(self._producer) if abandoned
                         else self._producer.flush(-1 if timeout is None else timeout))
            if remaining:
                LOGGER.warning("closing Kafka producer with %d unacknowledged record(s); "
                               "they are discarded", remaining)
                self._producer.purge()
                self._producer.flush(0)
        except KafkaException as exc:
            # A fatal error (e.g. fencing) surfaced while draining: nothing more can
            # be delivered, so release the client; the error was already raised or
            # logged where it happened.
            self._fatal = self._fatal or describe(exc)
            LOGGER.warning("Kafka producer closed after a fatal error: %s", self._fatal)
        finally:
            with warnings.catch_warnings():
                if self._fatal is not None:
                    # librdkafka warns that aborting the open transaction failed;
                    # for a fenced producer that is expected and already reported.
                    warnings.simplefilter("ignore", RuntimeWarning)
                self._producer.close()
        if self._in_transaction:
            with self._failures_lock:
                self._failures.clear()
        self._raise_failures()


def _deliver(user: DeliveryCallback, err: KafkaError | None, msg: Message) -> None:
    """Map a librdkafka delivery report to ``user(error, metadata)``."""
    if err is not None:
        user(_produce_error(err, msg), None)
        return
    topic = msg.topic()
    partition = msg.partition()
    offset = msg.offset()
    assert topic is not None and partition is not None and offset is not None
    user(None, RecordMetadata(topic, partition, offset, msg.timestamp()[1]))


def _produce_error(err: KafkaError, msg: Message) -> ProduceError:
    return ProduceError(
        f"record to {msg.topic()}[{msg.partition()}] was not delivered: "
        f"{err.name()}: {err.str()}"
    )


def _close_abandoned(client: RawProducer) -> None:
    """Close a librdkafka client the producer replaced. The records of its dead
    transaction are never committed: they are purged first, so close() does not wait
    for an unreachable broker; librdkafka's warning that the open transaction could
    not be aborted is expected (the new client's init_transactions aborts it)."""
    try:
        client.purge()
        client.flush(0)
    except KafkaException as exc:
        LOGGER.debug("purging a replaced producer client failed: %s", describe(exc))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        try:
            client.close()
        except KafkaException as exc:
            # Typically "fenced by a newer instance": the replacement's doing.
            LOGGER.debug("closing a replaced producer client: %s", describe(exc))
