"""Read a key's state from the local state directory, when no worker is running.

The directory layout is the stage tasks' (:mod:`slither_stream.pipe.engine.tasks`):
``<state dir>/<namespace>/<stage>.state/<store>/<partition>``, one RocksDB instance
per task, holding the state as of the last commit of whoever ran the stage here
(``slither run``, or a worker since stopped). It is opened read-only
(:mod:`slither_stream.store.partitioned.read_only`). A host that never ran the
stage has no such directory: the changelog is the source of truth, and a worker
restores from it.
"""

from __future__ import annotations

import json
from pathlib import Path

from slither_stream.errors import KeyNotFoundError, SerializationError, StoreError
from slither_stream.pipe.definition import PipeDefinition, StagePlan
from slither_stream.pipe.query import replies
from slither_stream.pipe.query.replies import StateAnswer
from slither_stream.pipe.specs import LocalSpec
from slither_stream.serde.lookup import serde_for
from slither_stream.store.app import DEFAULT_DATA_DIR
from slither_stream.store.partitioned.read_only import ReadOnlyTaskStore


def stage_state_dir(state_dir: Path, namespace: str, stage: str) -> Path:
    """Where a stage's task stores live (as :class:`StageTasks` lays them out)."""
    return state_dir / namespace / f"{stage}.state"


def read_local(definition: PipeDefinition, plan: StagePlan, store: str, key: bytes, *,
               partition: int, state_dir: Path | None = None) -> StateAnswer:
    """The committed value of ``key`` (in input partition ``partition``) on disk."""
    root = stage_state_dir(state_dir or Path(DEFAULT_DATA_DIR), definition.namespace,
                           plan.name) / store
    shown = replies.shown_key(key)
    if not root.is_dir():
        raise StoreError(f"no local state of stage {plan.name!r} (store {store!r}) under "
                         f"{root}: run this from where the pipe ran, pass --state-dir, or "
                         "ask a running worker with --endpoint")
    path = root / str(partition)
    if not path.is_dir():
        raise KeyNotFoundError(plan.name, store, shown)
    with ReadOnlyTaskStore(path) as instance:
        raw = instance.get(key)
    if raw is None:
        raise KeyNotFoundError(plan.name, store, shown)
    spec = plan.spec
    assert isinstance(spec, LocalSpec)
    [state] = [s for s in spec.state if s.name == store]
    try:
        value = serde_for(state.serde).decode(raw)
    except SerializationError as error:
        raise StoreError(f"the value of key {shown!r} in state store {store!r} does not "
                         f"decode: {error}") from error
    reply = replies.found(plan.name, store, key, partition, value)
    return StateAnswer(json.loads(reply.body), f"local state directory {path}")
