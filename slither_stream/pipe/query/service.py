"""A worker's ``/state`` route: answer for the keys it owns, name the owner of the rest.

``GET /state/<stage>/<store>/<key>`` (the key percent-encoded: any bytes) finds the
key's input partition. If one of this process's stage loops holds that partition's
restored tasks, the value comes from the task's RocksDB instance (committed state);
if the partition is still restoring here the answer is 503. Otherwise the stage's
consumer group says who owns it (:func:`~slither_stream.pipe.query.owners.owner_of`)
and the answer is 421 naming that member's endpoint. ``GET /state`` lists the
stages with state, their stores, and the partitions this process owns. The full
contract is in :mod:`~slither_stream.pipe.query.replies`.

Reads run on the HTTP server's thread while the stage thread restores, commits and
closes tasks: a task closed by a revoke between the lookup and the read answers
503, as a moving partition does.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote, unquote_to_bytes

from slither_stream.errors import ConfigError, SerializationError
from slither_stream.log.base import Log
from slither_stream.observability.server import HttpReply
from slither_stream.pipe.definition import PipeDefinition, StagePlan
from slither_stream.pipe.query import replies
from slither_stream.pipe.query.owners import input_partitions, key_partition, owner_of
from slither_stream.pipe.query.replies import (
    BAD_REQUEST,
    INTERNAL,
    MISDIRECTED,
    NOT_FOUND,
    UNAVAILABLE,
    error,
    shown_key,
)
from slither_stream.pipe.specs import LocalSpec
from slither_stream.serde.base import Serde
from slither_stream.serde.lookup import serde_for

if TYPE_CHECKING:
    from slither_stream.pipe.deploy.worker import Worker
    from slither_stream.pipe.engine.loop import StageLoop

_log = logging.getLogger(__name__)

PREFIX = "/state"
FORMATS = ("json", "raw")


class StateQueries:
    """The ``/state`` route of the stage loops ``stages()`` returns (a
    :data:`~slither_stream.observability.server.Route`).

    ``client_id`` is the client id of those loops' consumers (how this process
    recognises itself in the group); ``member`` is named in the answers.
    """

    def __init__(self, log: Log, definition: PipeDefinition,
                 stages: Callable[[], Sequence[StageLoop]], *, member: str | None = None,
                 client_id: str | None = None) -> None:
        self.log = log
        self.definition = definition
        self._stages = stages
        self.member = member
        self.client_id = client_id
        self._partitions: dict[str, int] = {}
        self._serdes: dict[tuple[str, str], Serde[Any]] = {}

    @classmethod
    def for_worker(cls, worker: Worker, *, client_id: str | None = None) -> StateQueries:
        """The route of ``worker``'s stages (it follows them as they start)."""
        return cls(worker.log, worker.definition, lambda: worker.runtimes,
                   member=worker.member, client_id=client_id)

    # -- HTTP -------------------------------------------------------------------------

    def __call__(self, path: str, query: str) -> HttpReply:
        if path in (PREFIX, PREFIX + "/"):
            return self.overview()
        parts = path[len(PREFIX) + 1:].split("/", 2)
        if len(parts) != 3 or not all(parts):
            return error(BAD_REQUEST, "bad_request",
                         f"expected {PREFIX}/<stage>/<store>/<key> (key URL-encoded), "
                         f"not {path!r}")
        options = parse_qs(query)
        shape = options.get("format", ["json"])[-1]
        if shape not in FORMATS:
            return error(BAD_REQUEST, "bad_request",
                         f"format must be one of {', '.join(FORMATS)}, not {shape!r}")
        return self.get(unquote(parts[0]), unquote(parts[1]), unquote_to_bytes(parts[2]),
                        raw=shape == "raw")

    # -- queries ------------------------------------------------------------------------

    def get(self, stage: str, store: str, key: bytes, *, raw: bool = False) -> HttpReply:
        """The answer for ``key`` of ``stage``'s state store ``store``."""
        plan = self._plan(stage)
        if plan is None:
            names = [p.name for p in self.definition.stages]
            return error(NOT_FOUND, "unknown_stage",
                         f"pipe {self.definition.name!r} has no stage {stage!r} "
                         f"(stages: {', '.join(names)})", stages=names)
        stores = [name for name, _topic in plan.changelogs]
        if store not in stores:
            listed = ", ".join(stores) if stores else "none: it keeps no keyed state"
            return error(NOT_FOUND, "unknown_store",
                         f"stage {stage!r} has no state store {store!r} (stores: {listed})",
                         stage=stage, stores=stores)
        partition = key_partition(key, self._count(plan))
        where = {"stage": stage, "store": store, "key": shown_key(key),
                 "partition": partition}
        loop = self._loop(stage)
        tasks = None if loop is None else loop.tasks
        if tasks is not None:
            owned = tasks.stores.get(partition)
            if owned is not None:
                try:
                    value = owned[store].get(key)
                except Exception as failure:  # closed by a revoke since the lookup
                    _log.debug("state read of %s[%d] failed: %s", stage, partition, failure)
                    return error(UNAVAILABLE, "no_owner",
                                 f"partition {partition} of stage {stage!r} is moving to "
                                 "another member; ask again", **where)
                return self._value(plan, store, key, partition, value, raw=raw)
            if tasks.is_restoring(partition):
                return error(UNAVAILABLE, "restoring",
                             f"partition {partition} of stage {stage!r} is restoring its "
                             "state here; ask again shortly", **where)
        owner = owner_of(self.log, plan, partition)
        if owner is None:
            return error(UNAVAILABLE, "no_owner",
                         f"no member of group {plan.group!r} owns partition {partition} "
                         f"now (a rebalance, or no worker runs stage {stage!r})", **where)
        if self.client_id is not None and owner.client_id == self.client_id:
            return error(UNAVAILABLE, "restoring",
                         f"partition {partition} of stage {stage!r} is being assigned to "
                         "this worker; ask again shortly", **where)
        shown = owner.url or f"member {owner.client_id!r} at {owner.host}, which " \
                             "advertises no endpoint"
        return error(MISDIRECTED, "not_owner",
                     f"partition {partition} of stage {stage!r} is owned by {shown}",
                     **where, owner=owner.url, member=owner.member,
                     client_id=owner.client_id, host=owner.host)

    def overview(self) -> HttpReply:
        """Stages with keyed state, their stores and the partitions owned here."""
        loops = {loop.name: loop for loop in self._stages()}
        stages: dict[str, Any] = {}
        for plan in self.definition.stages:
            if not plan.changelogs:
                continue
            loop = loops.get(plan.name)
            tasks = None if loop is None else loop.tasks
            entry: dict[str, Any] = {
                "stores": [name for name, _topic in plan.changelogs],
                "group": plan.group, "runs_here": loop is not None}
            if tasks is not None:
                # the stage thread changes both meanwhile: copy (atomic), ask (atomic)
                entry["owned"] = sorted(tasks.stores.copy())
                entry["restoring"] = [p for p in range(self._count(plan))
                                      if tasks.is_restoring(p)]
            stages[plan.name] = entry
        return replies.json_reply(200, {"pipe": self.definition.name,
                                        "namespace": self.definition.namespace,
                                        "member": self.member, "stages": stages})

    # -- helpers ------------------------------------------------------------------------

    def _plan(self, stage: str) -> StagePlan | None:
        try:
            return self.definition.stage(stage)
        except ConfigError:
            return None

    def _loop(self, stage: str) -> StageLoop | None:
        for loop in self._stages():
            if loop.name == stage:
                return loop
        return None

    def _count(self, plan: StagePlan) -> int:
        count = self._partitions.get(plan.name)
        if count is None:
            count = self._partitions[plan.name] = input_partitions(self.log, plan)
        return count

    def _serde(self, plan: StagePlan, store: str) -> Serde[Any]:
        found = self._serdes.get((plan.name, store))
        if found is None:
            spec = plan.spec
            assert isinstance(spec, LocalSpec)
            [state] = [s for s in spec.state if s.name == store]
            found = self._serdes[(plan.name, store)] = serde_for(state.serde)
        return found

    def _value(self, plan: StagePlan, store: str, key: bytes, partition: int,
               value: bytes | None, *, raw: bool) -> HttpReply:
        where = {"stage": plan.name, "store": store, "key": shown_key(key),
                 "partition": partition}
        if value is None:
            return error(NOT_FOUND, "no_value",
                         f"no value for key {shown_key(key)!r} in state store {store!r} of "
                         f"stage {plan.name!r} (partition {partition})", **where)
        if raw:
            return replies.raw(plan.name, store, partition, value)
        try:
            decoded = self._serde(plan, store).decode(value)
        except SerializationError as failure:
            return error(INTERNAL, "undecodable",
                         f"the value of key {shown_key(key)!r} in state store {store!r} "
                         f"does not decode: {failure} (?format=raw returns its bytes)",
                         **where)
        return replies.found(plan.name, store, key, partition, decoded, member=self.member)
