"""Ask for a key's state from outside: find its owner, ask it, follow redirections.

:func:`get_state` is what ``slither state get`` runs:

1. with ``endpoint``, ask that worker (or supervisor) and follow its 421 answers to
   the owner they name;
2. otherwise open the log, compute the key's partition, and read the stage's
   consumer group (:func:`~slither_stream.pipe.query.owners.owner_of`) for the
   member that owns it and the endpoint it advertises; then ask it as in 1;
3. on the embedded log nobody else can hold the log while we have it open, so no
   worker is running: the local state directory is read directly, read-only
   (:mod:`~slither_stream.pipe.query.local`). A worker that holds the embedded log
   is asked with ``endpoint``.

A 503 (restoring, or moving during a rebalance) is asked again until ``timeout``.
Errors: an unknown stage or store is a :class:`~slither_stream.errors.ConfigError`,
a key with no value a :class:`~slither_stream.errors.KeyNotFoundError`, and an
owner that cannot answer (none, unreachable, no endpoint, still restoring) a
:class:`~slither_stream.errors.StoreError`; each message is one line naming what
to do.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from slither_stream.errors import ConfigError, KeyNotFoundError, LogLockedError, StoreError
from slither_stream.log import open_log
from slither_stream.pipe.definition import PipeDefinition, StagePlan
from slither_stream.pipe.query.advertise import check_url
from slither_stream.pipe.query.local import read_local
from slither_stream.pipe.query.owners import (
    Owner,
    input_partitions,
    key_partition,
    owner_of,
)
from slither_stream.pipe.query.proxy import fetch
from slither_stream.pipe.query.replies import (
    MISDIRECTED,
    NOT_FOUND,
    OK,
    UNAVAILABLE,
    StateAnswer,
)
from slither_stream.pipe.query.service import PREFIX

MAX_HOPS = 4
"""421 answers followed before giving up (an owner moving twice mid-query)."""
DEFAULT_TIMEOUT_S = 10.0
REQUEST_TIMEOUT_S = 5.0


def check_target(definition: PipeDefinition, stage: str, store: str) -> StagePlan:
    """``stage``'s plan if it has state store ``store``; else a ConfigError naming
    what exists."""
    plan = definition.stage(stage)
    stores = [name for name, _topic in plan.changelogs]
    if store not in stores:
        listed = ", ".join(stores) if stores else "none: it keeps no keyed state"
        raise ConfigError(f"stage {stage!r} has no state store {store!r} (stores: {listed})")
    return plan


def get_state(definition: PipeDefinition, stage: str, store: str, key: bytes, *,
              log_url: str, endpoint: str | None = None, state_dir: Path | None = None,
              timeout: float = DEFAULT_TIMEOUT_S) -> StateAnswer:
    """The committed value of ``key`` in ``stage``'s state store ``store`` (see the
    module docstring for where it is asked and the errors)."""
    plan = check_target(definition, stage, store)
    deadline = time.monotonic() + timeout
    if endpoint is not None:
        return ask(check_url(endpoint), stage, store, key, deadline=deadline)
    try:
        log = open_log(log_url)
    except LogLockedError as error:
        raise StoreError(f"the embedded log {log_url} is open in another process (a "
                         "running worker?): ask that worker with --endpoint "
                         "http://HOST:PORT (its --metrics-port)") from error
    with log:
        partition = key_partition(key, input_partitions(log, plan))
        owner = _wait_for_owner(log, plan, partition, deadline)
        if owner is None:
            if urlsplit(log.url).scheme == "embedded":
                # we hold the log, so no worker runs: read the state on disk
                return read_local(definition, plan, store, key, partition=partition,
                                  state_dir=state_dir)
            raise StoreError(f"no member of group {plan.group!r} owns partition "
                             f"{partition} of {plan.input_topic}: is a worker running "
                             f"stage {stage!r}?")
    if owner.url is None:
        raise StoreError(f"partition {partition} of stage {stage!r} is owned by "
                         f"{owner.client_id!r} at {owner.host}, which advertises no "
                         "endpoint (start workers with --metrics-port)")
    return ask(owner.url, stage, store, key, deadline=deadline)


def _wait_for_owner(log: Any, plan: StagePlan, partition: int,
                    deadline: float) -> Owner | None:
    """The partition's owner, asked again while the group rebalances (no member
    has it, but the group has members) until ``deadline``."""
    pause = threading.Event()  # never set: a bounded wait between remote checks
    delay = 0.1
    while True:
        owner = owner_of(log, plan, partition)
        if owner is not None or not log.group_members(plan.group) \
                or time.monotonic() + delay > deadline:
            return owner
        pause.wait(delay)
        delay = min(delay * 2, 1.0)


def ask(url: str, stage: str, store: str, key: bytes, *, deadline: float) -> StateAnswer:
    """Ask the worker at ``url``, following 421 answers and waiting out 503 ones."""
    path = f"{PREFIX}/{quote(stage, safe='')}/{quote(store, safe='')}/{quote(key, safe='')}"
    pause = threading.Event()  # never set: the wait a 503's Retry-After asks for
    hops = 0
    while True:
        try:
            reply = fetch(url + path, REQUEST_TIMEOUT_S)
        except OSError as error:
            raise StoreError(f"the owner {url} did not answer: {error}") from error
        body = _body(reply.body)
        message = str(body.get("message") or f"HTTP {reply.status}")
        if reply.status == OK:
            return StateAnswer(body, url)
        if reply.status == MISDIRECTED:
            owner = body.get("owner")
            hops += 1
            if not isinstance(owner, str):
                raise StoreError(f"{message} (start workers with --metrics-port)")
            if hops > MAX_HOPS:
                raise StoreError(f"gave up after {MAX_HOPS} redirections: {message}")
            url = owner.rstrip("/")
            continue
        if reply.status == NOT_FOUND and body.get("code") == "no_value":
            raise KeyNotFoundError(stage, store, key.decode("utf-8", "backslashreplace"))
        if reply.status == NOT_FOUND and body.get("code") in ("unknown_stage",
                                                              "unknown_store"):
            raise ConfigError(f"{url}: {message} (does it run another version of the "
                              "topology?)")
        if reply.status == UNAVAILABLE:
            wait = _retry_after(reply.headers)
            if time.monotonic() + wait <= deadline:
                pause.wait(wait)
                continue
            raise StoreError(f"{url}: {message} (still so after the timeout)")
        raise StoreError(f"{url} answered HTTP {reply.status}: {message}")


def _body(raw: bytes) -> dict[str, Any]:
    try:
        found = json.loads(raw)
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {}


def _retry_after(headers: tuple[tuple[str, str], ...]) -> float:
    for name, value in headers:
        if name.lower() == "retry-after":
            try:
                return max(0.1, min(float(value), 5.0))
            except ValueError:
                break
    return 1.0
