"""Topic administration and offset queries through the Kafka AdminClient.

Everything here works without joining a consumer group: topic create / describe /
list / delete, beginning and end offsets (ListOffsets), a group's committed
offsets (OffsetFetch) and its members (DescribeConsumerGroups). Every call is
bounded by ``settings.timeout`` and failures become
:class:`~slither_stream.errors.LogError` subclasses.

Security: opening fails within seconds with
:class:`~slither_stream.errors.AuthenticationError` when the broker refuses the
login or the TLS handshake (the first refusal ends the wait: no retry storm);
:meth:`KafkaAdmin.check_access` compares what a client needs with the operations
the broker says it may do on existing topics, groups and the cluster.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from functools import partial
from typing import Any

from confluent_kafka import (
    IsolationLevel,
    KafkaError,
    KafkaException,
    TopicCollection,
)
from confluent_kafka import TopicPartition as KafkaTopicPartition
from confluent_kafka.admin import (  # type: ignore[attr-defined]  # re-exported, untyped
    AdminClient,
    ConfigResource,
    ConfigSource,
    NewTopic,
    OffsetSpec,
    ResourceType,
)

from slither_stream.errors import (
    AuthenticationError,
    AuthorizationError,
    ConfigError,
    LogError,
    TopicExistsError,
    UnknownTopicError,
)
from slither_stream.log.kafka._config import ClientLog, KafkaSettings
from slither_stream.log.kafka._errors import (
    CLUSTER,
    authentication_error,
    authorization_error,
    describe,
    error_code,
    translate,
)
from slither_stream.log.kafka._offset_fetch import CommittedOffsetReader
from slither_stream.log.kafka._topics import TopicCache, check_spec, check_topic_name
from slither_stream.log.types import Access, GroupMember, TopicInfo, TopicPartition, TopicSpec

_REACH_SLICE_S = 0.25
"""How long each metadata request of the reachability check may wait: between two,
the client's error reports are read, so a refused login ends the check at once."""


class KafkaAdmin:
    """One AdminClient plus the topic cache shared with the log's producers/consumers."""

    def __init__(self, settings: KafkaSettings) -> None:
        self._settings = settings
        self._refused: AuthenticationError | None = None
        conf = settings.client_config()
        conf["error_cb"] = self._on_client_error
        self._client_log: ClientLog = conf["logger"]
        try:
            self._client = AdminClient(conf)
        except KafkaException as exc:
            raise ConfigError(f"invalid Kafka client configuration: {describe(exc)}") from exc
        self.topics = TopicCache(self.fetch_partitions, explain=self.explain_missing)
        self._offsets = CommittedOffsetReader(settings)

    def _on_client_error(self, err: KafkaError) -> None:
        """Keep the first refused login or TLS handshake (the client's other errors
        are in its log lines already)."""
        if self._refused is None:
            self._refused = authentication_error(
                err, bootstrap=self._settings.bootstrap_servers,
                mechanism=self._settings.mechanism)

    # -- cluster metadata ---------------------------------------------------------

    def check_reachable(self) -> None:
        """Raise :class:`LogError` if no broker answers within ``connect_timeout``,
        :class:`AuthenticationError` as soon as one refuses the login or the TLS
        handshake."""
        timeout = self._settings.connect_timeout
        deadline = time.monotonic() + timeout
        # The connection failures' log lines (a few a second) are not shown: the
        # error raised here says it all.
        self._client_log.muted = True
        try:
            self._wait_reachable(timeout, deadline)
        finally:
            self._client_log.muted = False

    def _wait_reachable(self, timeout: float, deadline: float) -> None:
        while True:
            remaining = deadline - time.monotonic()
            try:
                self._client.list_topics(timeout=max(min(_REACH_SLICE_S, remaining), 0.01))
                break
            except KafkaException as exc:
                self._client.poll(0)  # serves the error callback
                if self._refused is not None:
                    raise self._refused from None
                if remaining <= _REACH_SLICE_S:
                    raise LogError(
                        f"cannot reach Kafka at {self._settings.bootstrap_servers} within "
                        f"{timeout:g}s ({describe(exc)}); is the broker running, the URL "
                        f"right, and security.protocol the listener's "
                        f"({self._settings.mechanism} here)?"
                    ) from exc
        self._client.poll(0)

    def explain_missing(self, topic: str) -> None:
        """Raise :class:`AuthorizationError` if ``topic`` is missing from the
        cluster's topic list only because this principal may not DESCRIBE it (an
        all-topics Metadata answer leaves such topics out); otherwise return."""
        timeout = self._settings.timeout
        try:
            futures = self._client.describe_topics(TopicCollection([topic]),
                                                   request_timeout=timeout)
            _result(futures[topic], timeout)
        except KafkaException as exc:
            denied = authorization_error(exc, principal=self._settings.principal,
                                         needed={"TOPIC": (topic, "DESCRIBE")})
            if denied is not None:
                raise denied from None
        except (ValueError, KeyError):
            return

    # -- access control -------------------------------------------------------------

    def check_access(self, needed: Iterable[Access]) -> None:
        """Raise :class:`AuthorizationError` for the first permission in ``needed``
        the broker says is missing (see :meth:`Log.check_access`): the authorized
        operations of the literal topics and groups named. Topics that do not exist
        yet are left to ``create_topics`` (which raises the same error naming
        CREATE); transactional ids, the cluster and prefixed patterns have no
        describe call: they are checked at first use."""
        topics: dict[str, list[Access]] = {}
        groups: dict[str, list[Access]] = {}
        for access in needed:
            if access.pattern != "LITERAL" or access.operation == "CREATE":
                continue
            if access.resource_type == "TOPIC":
                topics.setdefault(access.name, []).append(access)
            elif access.resource_type == "GROUP":
                groups.setdefault(access.name, []).append(access)
        self._check_topics(topics)
        self._check_groups(groups)

    def _denied(self, access: Access, granted: set[str], detail: str = "") -> None:
        if access.operation not in granted and "ALL" not in granted:
            raise AuthorizationError(
                principal=self._settings.principal, resource_type=access.resource_type,
                resource=access.name, operation=access.operation,
                detail=detail or (f"{access.reason}; the broker allows "
                                  f"{', '.join(sorted(granted)) or 'nothing'} there"
                                  if access.reason else ""))

    def _check_topics(self, topics: dict[str, list[Access]]) -> None:
        """Check each existing topic's authorized operations."""
        if not topics:
            return
        timeout = self._settings.timeout
        futures = self._client.describe_topics(TopicCollection(sorted(topics)),
                                               request_timeout=timeout,
                                               include_authorized_operations=True)
        for name, accesses in sorted(topics.items()):
            try:
                description = _result(futures[name], timeout)
            except KafkaException as exc:
                code = error_code(exc)
                if code == KafkaError.UNKNOWN_TOPIC_OR_PART:
                    continue
                if code == KafkaError.TOPIC_AUTHORIZATION_FAILED:
                    # Not even DESCRIBE (which READ and WRITE imply).
                    self._denied(accesses[0], set(), detail=f"{accesses[0].reason}; the "
                                 "broker lets this principal not even DESCRIBE the topic")
                raise translate(exc, f"describing topic {name!r}") from exc
            granted = {op.name for op in description.authorized_operations or []}
            for access in accesses:
                self._denied(access, granted)

    def _check_groups(self, groups: dict[str, list[Access]]) -> None:
        if not groups:
            return
        timeout = self._settings.timeout
        futures = self._client.describe_consumer_groups(
            sorted(groups), request_timeout=timeout, include_authorized_operations=True)
        for name, accesses in sorted(groups.items()):
            try:
                description = _result(futures[name], timeout)
            except KafkaException as exc:
                if error_code(exc) == KafkaError.GROUP_AUTHORIZATION_FAILED:
                    self._denied(accesses[0], set())
                if error_code(exc) in _TRANSIENT_GROUP_ERRORS:
                    continue  # a coordinator moving: the first use will tell
                raise translate(exc, f"describing consumer group {name!r}") from exc
            granted = {op.name for op in description.authorized_operations or []}
            for access in accesses:
                self._denied(access, granted)

    def _metadata(self) -> Any:
        try:
            return self._client.list_topics(timeout=self._settings.timeout)
        except KafkaException as exc:
            raise translate(exc, "reading cluster metadata") from exc
        finally:
            self._client.poll(0)

    def fetch_partitions(self) -> dict[str, int]:
        """``{topic: partition count}`` for every topic with usable metadata."""
        topics = self._metadata().topics
        return {
            name: len(meta.partitions)
            for name, meta in topics.items()
            if meta.error is None and meta.partitions
        }

    def _ready(self, name: str, partitions: int | None) -> bool:
        """True when metadata shows ``name`` with ``partitions`` led partitions."""
        meta = self._metadata().topics.get(name)
        if meta is None or meta.error is not None or not meta.partitions:
            return False
        if partitions is not None and len(meta.partitions) != partitions:
            return False
        return all(p.leader >= 0 for p in meta.partitions.values())

    def _absent(self, name: str) -> bool:
        return name not in self._metadata().topics

    def _await(self, condition: Callable[[], bool], what: str,
               last_error: Callable[[], str | None] | None = None) -> None:
        """Re-ask the broker until ``condition`` holds, bounded by ``timeout``.

        Kafka has no notification for metadata propagation (the broker applies the
        controller's records asynchronously after CreateTopics/DeleteTopics
        return), for a new partition leader becoming ready to answer, nor for a
        transaction's offsets becoming stable, so this re-asks with a short
        exponential backoff on a monotonic deadline. The first check almost always
        passes. ``last_error`` names what the last failed check saw, for the
        deadline's error message.
        """
        deadline = time.monotonic() + self._settings.timeout
        backoff = 0.01
        pause = threading.Event()  # never set: a bounded wait between remote checks
        while not condition():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                seen = last_error() if last_error is not None else None
                raise LogError(f"Kafka did not report {what} within "
                               f"{self._settings.timeout:g}s"
                               + (f" (last answer: {seen})" if seen else ""))
            pause.wait(min(backoff, remaining))
            backoff = min(backoff * 2, 0.5)

    # -- topics -------------------------------------------------------------------

    def create_topics(self, specs: Iterable[TopicSpec], *, exist_ok: bool) -> None:
        checked = [check_spec(spec) for spec in specs]
        names = [spec.name for spec in checked]
        if len(set(names)) != len(names):
            raise ConfigError(f"create_topics got the same topic twice: {names}")
        if not checked:
            return
        if exist_ok:
            # Create only what is missing: a principal without CREATE can still
            # start on topics an admin made (a CreateTopics it may not send fails
            # even for existing topics).
            known = self.fetch_partitions()
            present = [spec for spec in checked if spec.name in known]
            for spec in present:
                self.topics.put(spec.name, known[spec.name])
            checked = [spec for spec in checked if spec.name not in known]
            if not checked:
                return
        new_topics = [
            NewTopic(spec.name, num_partitions=spec.partitions, replication_factor=-1,
                     config=_topic_config(spec))
            for spec in checked
        ]
        timeout = self._settings.timeout
        futures = self._client.create_topics(new_topics, request_timeout=timeout,
                                             operation_timeout=timeout)
        created: list[TopicSpec] = []
        for spec in checked:
            try:
                futures[spec.name].result(timeout=timeout + 5)
                created.append(spec)
            except KafkaException as exc:
                code = error_code(exc)
                if code == KafkaError.TOPIC_ALREADY_EXISTS:
                    if exist_ok:
                        continue
                    raise TopicExistsError(f"topic {spec.name!r} already exists") from exc
                if code in (KafkaError.INVALID_PARTITIONS, KafkaError.INVALID_CONFIG,
                            KafkaError.TOPIC_EXCEPTION,
                            KafkaError.INVALID_REPLICATION_FACTOR,
                            KafkaError.POLICY_VIOLATION):
                    raise ConfigError(
                        f"Kafka rejected topic {spec.name!r}: {describe(exc)}"
                    ) from exc
                denied = authorization_error(
                    exc, principal=self._settings.principal,
                    needed={"TOPIC": (spec.name, "CREATE"), "CLUSTER": (CLUSTER, "CREATE")})
                if denied is not None:
                    raise denied from exc
                raise translate(exc, f"creating topic {spec.name!r}") from exc
        for spec in created:
            self._await(partial(self._ready, spec.name, spec.partitions),
                        f"new topic {spec.name!r}")
            self.topics.put(spec.name, spec.partitions)

    def describe_topic(self, name: str) -> TopicInfo:
        check_topic_name(name)
        meta = self._metadata().topics.get(name)
        if meta is None or (meta.error is not None
                            and meta.error.code() == KafkaError.UNKNOWN_TOPIC_OR_PART):
            raise UnknownTopicError(name)
        if meta.error is not None:
            raise LogError(f"Kafka metadata for topic {name!r} has an error: {meta.error}")
        partitions = len(meta.partitions)
        self.topics.put(name, partitions)
        configs = self._topic_configs(name)
        policy = configs.get("cleanup.policy")
        compacted = policy is not None and "compact" in policy[0].split(",")
        retention = configs.get("retention.ms")
        retention_ms = (
            int(retention[0]) if retention is not None and retention[1] else None
        )
        return TopicInfo(name, partitions, compacted, retention_ms)

    def partition_count(self, name: str) -> int:
        """Partitions of ``name`` from cluster metadata alone (DESCRIBE on the topic
        suffices, unlike :meth:`describe_topic`, whose configs need
        DESCRIBE_CONFIGS)."""
        check_topic_name(name)
        meta = self._metadata().topics.get(name)
        if meta is None or (meta.error is not None
                            and meta.error.code() == KafkaError.UNKNOWN_TOPIC_OR_PART):
            self.explain_missing(name)
            raise UnknownTopicError(name)
        if meta.error is not None:
            raise translate(KafkaException(meta.error), f"reading metadata of topic {name!r}")
        self.topics.put(name, len(meta.partitions))
        return len(meta.partitions)

    def _topic_configs(self, name: str) -> dict[str, tuple[str, bool]]:
        """``{property: (value, set_on_topic)}`` for topic ``name``."""
        resource = ConfigResource(ResourceType.TOPIC, name)
        timeout = self._settings.timeout
        try:
            futures = self._client.describe_configs([resource], request_timeout=timeout)
            entries = next(iter(futures.values())).result(timeout=timeout + 5)
        except KafkaException as exc:
            raise translate(exc, f"describing topic {name!r}", topic=name) from exc
        return {
            key: (str(entry.value), entry.source == ConfigSource.DYNAMIC_TOPIC_CONFIG.value)
            for key, entry in entries.items()
        }

    def list_topics(self) -> list[str]:
        topics = self._metadata().topics
        return sorted(name for name in topics if not name.startswith("__"))

    def delete_topic(self, name: str) -> None:
        check_topic_name(name)
        timeout = self._settings.timeout
        futures = self._client.delete_topics([name], request_timeout=timeout,
                                             operation_timeout=timeout)
        try:
            futures[name].result(timeout=timeout + 5)
        except KafkaException as exc:
            raise translate(exc, f"deleting topic {name!r}", topic=name) from exc
        finally:
            self.topics.forget(name)
        self._await(partial(self._absent, name), f"topic {name!r} deleted")

    # -- offsets ------------------------------------------------------------------

    def _checked(self, partitions: Iterable[TopicPartition]) -> list[TopicPartition]:
        result = []
        for tp in partitions:
            self.topics.check(TopicPartition(*tp))
            result.append(TopicPartition(*tp))
        return result

    def list_offsets(self, partitions: Iterable[TopicPartition], *,
                     latest: bool) -> dict[TopicPartition, int]:
        """Earliest (``latest=False``) or last-stable (``latest=True``) offsets.

        Right after CreateTopics (or while a leader moves) the broker answers
        NOT_LEADER_FOR_PARTITION / LEADER_NOT_AVAILABLE for a while even though
        metadata already names the leader; those partitions are asked again
        (bounded by ``timeout``), so callers never see a transient refusal.
        """
        wanted = self._checked(partitions)
        if not wanted:
            return {}
        spec = (OffsetSpec.latest() if latest  # type: ignore[no-untyped-call]
                else OffsetSpec.earliest())  # type: ignore[no-untyped-call]
        result: dict[TopicPartition, int] = {}
        refused: dict[TopicPartition, str] = {}

        def ask() -> bool:
            pending = [tp for tp in wanted if tp not in result]
            refused.clear()
            for tp, outcome in self._list_offsets_once(pending, spec).items():
                if isinstance(outcome, int):
                    result[tp] = outcome
                else:
                    refused[tp] = outcome
            return not refused

        self._await(ask, "partition offsets",
                    lambda: "; ".join(f"{tp.topic}[{tp.partition}]: {why}"
                                      for tp, why in sorted(refused.items())))
        return result

    def _list_offsets_once(self, wanted: list[TopicPartition], spec: Any
                           ) -> dict[TopicPartition, int | str]:
        """One ListOffsets round: the offset per partition, or the text of a
        transient refusal to ask again about; other failures raise."""
        request = {KafkaTopicPartition(tp.topic, tp.partition): spec for tp in wanted}
        timeout = self._settings.timeout
        answer: dict[TopicPartition, int | str] = {}
        try:
            futures = self._client.list_offsets(
                request, isolation_level=IsolationLevel.READ_COMMITTED,
                request_timeout=timeout)
            for ktp, future in futures.items():
                tp = TopicPartition(ktp.topic, ktp.partition)
                try:
                    answer[tp] = int(_result(future, timeout).offset)
                except KafkaException as exc:
                    if error_code(exc) not in _TRANSIENT_OFFSET_ERRORS:
                        raise
                    answer[tp] = describe(exc)
        except KafkaException as exc:
            raise translate(exc, "listing partition offsets") from exc
        return answer

    def committed_offsets(self, group: str, partitions: Iterable[TopicPartition]
                          ) -> dict[TopicPartition, int | None]:
        """A group's committed offsets; offsets a transaction is still committing
        are waited for (``require_stable``), never reported as missing."""
        if not isinstance(group, str) or not group:
            raise ConfigError(f"consumer group must be a non-empty string, got {group!r}")
        wanted = self._checked(partitions)
        if not wanted:
            return {}
        answer: dict[TopicPartition, int | None] = {}
        self._await(partial(self._fetch_committed, group, wanted, answer),
                    f"stable committed offsets of group {group!r}")
        return answer

    def _fetch_committed(self, group: str, wanted: list[TopicPartition],
                         answer: dict[TopicPartition, int | None]) -> bool:
        """One OffsetFetch into ``answer``; False while a transaction's offsets are
        pending. Through a consumer handle of the group, not the AdminClient, whose
        OffsetFetch crashes the process on NOT_COORDINATOR (see ``_offset_fetch``)."""
        result = self._offsets.committed(group, wanted)
        if result is None:
            return False
        answer.update(result)
        return True

    # -- groups -------------------------------------------------------------------

    def group_members(self, group: str) -> list[GroupMember]:
        """The members of ``group`` (DescribeConsumerGroups): client id, host and
        assignment of each. A group the coordinator does not know has none; a
        coordinator that is moving or loading is asked again (bounded by
        ``timeout``)."""
        if not isinstance(group, str) or not group:
            raise ConfigError(f"consumer group must be a non-empty string, got {group!r}")
        found: list[GroupMember] = []
        refused: list[str] = []

        def ask() -> bool:
            refused.clear()
            timeout = self._settings.timeout
            try:
                futures = self._client.describe_consumer_groups([group],
                                                                request_timeout=timeout)
                description = _result(futures[group], timeout)
            except KafkaException as exc:
                code = error_code(exc)
                if code == KafkaError.GROUP_ID_NOT_FOUND:
                    return True
                if code in _TRANSIENT_GROUP_ERRORS:
                    refused.append(describe(exc))
                    return False
                raise translate(exc, f"describing consumer group {group!r}") from exc
            found.extend(_member(entry) for entry in description.members)
            return True

        self._await(ask, f"the members of consumer group {group!r}",
                    lambda: refused[0] if refused else None)
        return sorted(found, key=lambda member: member.member_id)

    def close(self) -> None:
        """Close the offset readers (the AdminClient itself needs no closing)."""
        self._offsets.close()


_TRANSIENT_OFFSET_ERRORS = frozenset({
    KafkaError.NOT_LEADER_FOR_PARTITION,
    KafkaError.LEADER_NOT_AVAILABLE,
    KafkaError.REPLICA_NOT_AVAILABLE,
    KafkaError.OFFSET_NOT_AVAILABLE,
    KafkaError.UNKNOWN_LEADER_EPOCH,
    KafkaError.FENCED_LEADER_EPOCH,
})
"""ListOffsets answers that mean "not yet": a partition leader being elected or
loading (right after CreateTopics, or during a leader move), or a new leader whose
high watermark is not yet known."""


_TRANSIENT_GROUP_ERRORS = frozenset({
    KafkaError.COORDINATOR_LOAD_IN_PROGRESS,
    KafkaError.COORDINATOR_NOT_AVAILABLE,
    KafkaError.NOT_COORDINATOR,
})
"""DescribeConsumerGroups answers that mean "ask again": the group's coordinator is
being elected, is loading the group, or moved."""


def _member(entry: Any) -> GroupMember:
    """Our view of a confluent-kafka ``MemberDescription``."""
    assigned = entry.assignment.topic_partitions if entry.assignment is not None else []
    return GroupMember(
        member_id=str(entry.member_id), client_id=str(entry.client_id or ""),
        host=str(entry.host or "").lstrip("/"),
        assignment=frozenset(TopicPartition(tp.topic, tp.partition) for tp in assigned))


def _result(future: Future[Any], timeout: float) -> Any:
    """Wait for an admin future, a little longer than the request it carries."""
    return future.result(timeout=timeout + 5)


def _topic_config(spec: TopicSpec) -> dict[str, str]:
    config: dict[str, str] = {}
    if spec.compacted:
        config["cleanup.policy"] = "compact"
    if spec.retention_ms is not None:
        config["retention.ms"] = str(spec.retention_ms)
    for key, value in spec.config.items():
        config[key] = str(value).lower() if isinstance(value, bool) else str(value)
    return config
