"""``slither replay STORE`` and ``slither reload STORE``: rebuild and hot-swap stores.

``replay`` rebuilds a store's local RocksDB directory from its changelog topics, for
example after the directory was lost. It must own the directory: when a running
worker owns it, use ``reload --source changelog`` instead, which asks that worker.

``reload`` builds a new generation (from the changelog, or by calling the store's
``load``) and swaps it in; readers in every process follow the generation pointer,
so running workers see the new contents without restarting. Who performs it:

* no process owns the store's directory here: this command does, as the owner for
  the duration (``--via local``, what ``auto`` picks);
* a running worker owns it (on Kafka, the worker's supervisor): this command asks it
  over the app's control topic and waits for its answer (``--via control``, what
  ``auto`` picks; use it explicitly for workers on other hosts or in containers).
  See :mod:`slither_stream.store.control`.
* On the embedded log a running worker is the log's only opener, so it cannot be
  asked anything; the command says so: stop the worker, reload, start it again (or
  run the workers on Kafka).

Exit codes as for every command (see ``_common``): 2 for a bad STORE or flags, 3 when
the log, the directory lock or the owner fails.
"""

from __future__ import annotations

import fcntl
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO, cast

import click

from slither_stream.cli._common import (
    EXIT_LOG,
    EXIT_USAGE,
    Command,
    failure,
    log_option,
    reports_errors,
)
from slither_stream.cli._store_target import StoreTarget, resolve_store
from slither_stream.errors import LogLockedError, UnknownTopicError
from slither_stream.log import Log, open_log
from slither_stream.log.types import TopicPartition
from slither_stream.store.app import DEFAULT_DATA_DIR
from slither_stream.store.behaviour import ReloadSource
from slither_stream.store.generations import OWNER_LOCK, read_pointer
from slither_stream.store.owner import StoreOwner, changelog_topic
from slither_stream.store.recovery import RestoreOptions, RestoreProgress

PROGRESS_INTERVAL_S = 0.2


class RestoreBar:
    """Restore progress on stderr (records, total, records/s) when it is a terminal."""

    def __init__(self, label: str, *, enabled: bool | None = None,
                 stream: TextIO | None = None) -> None:
        self.label = label
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self.applied: dict[int, int] = {}
        """Records of the largest finished restore per generation: the full replay that
        built it (a reload's catch-up pass after it is smaller)."""
        self.rates: dict[int, float] = {}
        """Records/s of that restore (the replay itself, without opening and closing)."""
        self._drawn = False

    def __call__(self, progress: RestoreProgress) -> None:
        if progress.done and progress.records >= self.applied.get(progress.generation, 0):
            self.applied[progress.generation] = progress.records
            self.rates[progress.generation] = progress.rate
        if not self.enabled:
            return
        percent = 100.0 * progress.records / progress.total if progress.total else 100.0
        self.stream.write(f"\r{self.label}: generation {progress.generation}: "
                          f"{progress.records}/{progress.total} records ({percent:.0f}%), "
                          f"{progress.rate:,.0f} records/s   ")
        self.stream.flush()
        self._drawn = True

    def close(self) -> None:
        if self._drawn:
            self.stream.write("\n")
            self.stream.flush()
            self._drawn = False


def store_options(func: Any) -> Any:
    """STORE plus ``--namespace``, ``--app``, ``--data-dir`` and ``--log``, shared by
    both commands."""
    func = log_option(func)
    func = click.option("--progress/--no-progress", default=None,
                        help="Progress on stderr (default: when stderr is a terminal).")(func)
    func = click.option(
        "--data-dir", type=click.Path(file_okay=False, path_type=Path),
        default=DEFAULT_DATA_DIR, show_default=True,
        help="Directory holding the stores (a worker's is .slither-stores in the "
             "directory it was started in).")(func)
    func = click.option("--app", default=None,
                        help="App the store belongs to, for a store run by a StoreApp of "
                             "your own (a pipe's stores: use --namespace).")(func)
    func = click.option("--namespace", default=None,
                        help="Namespace of the deployment whose store this is, as given "
                             "to 'slither worker --namespace' (default: the pipe name).")(func)
    return click.argument("store")(func)


@contextmanager
def _log_for(target: StoreTarget, url: str) -> Iterator[Log]:
    try:
        log = open_log(url)
    except LogLockedError as error:
        raise failure(f"{error}; a running 'slither worker' on the embedded log is its only "
                      f"opener, so stop it before working on store {target.name!r}, or run "
                      f"the workers on Kafka to reload live", EXIT_LOG) from error
    try:
        yield log
    finally:
        log.close()


def owner_pid(store_dir: Path) -> str | None:
    """The pid holding the store's ``OWNER.lock``, or None when no process owns it."""
    path = store_dir / OWNER_LOCK
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return os.pread(fd, 64, 0).decode(errors="replace").strip() or "unknown"
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def _changelog_records(log: Log, target: StoreTarget) -> int:
    """Records stored in the store's changelogs; a usage error when one is missing."""
    partitions: list[TopicPartition] = []
    for table in target.store.tables():
        topic = changelog_topic(target.app, target.name, table.name)
        try:
            partitions.extend(log.partitions_of(topic))
        except UnknownTopicError:
            raise failure(f"store {target.name!r} (app {target.app!r}) has no changelog "
                          f"{topic!r} on {log.url}: nothing to replay (wrong --log or "
                          f"--namespace?)", EXIT_USAGE) from None
    ends = log.end_offsets(partitions)
    begins = log.beginning_offsets(partitions)
    return sum(ends[tp] - begins[tp] for tp in partitions)


def _changelog_empty(log: Log, target: StoreTarget) -> bool:
    """True when no changelog of the store holds a record (or none exists yet)."""
    for table in target.store.tables():
        topic = changelog_topic(target.app, target.name, table.name)
        try:
            partitions = log.partitions_of(topic)
        except UnknownTopicError:
            continue
        if any(log.end_offsets(partitions).values()):
            return False
    return True


def _owner(target: StoreTarget, log: Log, bar: RestoreBar) -> StoreOwner:
    options = RestoreOptions(progress_interval=PROGRESS_INTERVAL_S, on_progress=bar)
    owner = StoreOwner(target.store, log, app=target.app, data_dir=target.data_dir,
                       grace_period=0.0, restore_options=options)
    target.store.bind(owner)
    return owner


def _summary(owner: StoreOwner) -> str:
    return ", ".join(f"{name}={owner.table(name).size()}" for name in owner.specs)


@click.command("replay", cls=Command)
@store_options
@reports_errors
def replay_command(store: str, *, namespace: str | None, app: str | None, data_dir: Path,
                   progress: bool | None, log_url: str) -> None:
    """Rebuild the local RocksDB of STORE from its changelog.

    STORE is FILE.py:NAME or module:NAME, NAME being a store a pipe declares or a
    Store class. Progress goes to stderr; the final count to stdout.
    """
    target = resolve_store(store, app=app, namespace=namespace, data_dir=data_dir)
    holder = owner_pid(target.store_dir)
    if holder is not None:
        raise failure(f"store {target.name!r} at {target.store_dir} is owned by process "
                      f"{holder} (a running worker); use 'slither reload {store} --source "
                      f"changelog' to rebuild it there", EXIT_LOG)
    with _log_for(target, log_url) as log:
        stored = _changelog_records(log, target)
        if stored == 0 and target.store.has_loader:
            raise failure(f"the changelog of store {target.name!r} is empty: nothing to "
                          f"replay (populate it with 'slither reload {store} --source load')",
                          EXIT_USAGE)
        rebuild_existing = read_pointer(target.store_dir) is not None
        bar = RestoreBar(f"replay {target.name}", enabled=progress)
        started = time.perf_counter()
        owner = _owner(target, log, bar)
        try:
            owner.start()
            if rebuild_existing:
                owner.reload("changelog")
            elapsed = time.perf_counter() - started
            generation = owner.current.number
            records = bar.applied.get(generation, 0)
            rate = bar.rates.get(generation, 0.0)
            tables = _summary(owner)
        finally:
            bar.close()
            owner.close()
            target.store.bind(None)
    click.echo(f"replayed {records} records into store {target.name} (app {target.app}) "
               f"generation {generation} at {target.store_dir} in {elapsed:.2f}s "
               f"(restore {rate:,.0f} records/s); tables: {tables}")


@click.command("reload", cls=Command)
@store_options
@click.option("--source", type=click.Choice(["changelog", "load"]), default=None,
              help="Replay the changelog, or call the store's load() (default: load if "
                   "the store defines it).")
@click.option("--via", type=click.Choice(["auto", "local", "control"]), default="auto",
              show_default=True,
              help="local: this command owns the store while reloading; control: ask the "
                   "running owner over the control topic; auto: control if a process here "
                   "owns the store, else local.")
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), default=300.0,
              show_default=True, help="Seconds to wait for the owner's answer (control).")
@reports_errors
def reload_command(store: str, *, namespace: str | None, app: str | None, data_dir: Path,
                   progress: bool | None, log_url: str, source: str | None, via: str,
                   timeout: float) -> None:
    """Build a new generation of STORE and hot-swap it into running workers.

    Worker processes read the store through StoreReaders, which switch to the new
    generation on their next catch-up (within a second by default).
    """
    target = resolve_store(store, app=app, namespace=namespace, data_dir=data_dir)
    if source == "load" and not target.store.has_loader:
        raise failure(f"store {target.name!r} has no load(tables); use --source changelog",
                      EXIT_USAGE)
    holder = owner_pid(target.store_dir)
    if via == "auto":
        via = "control" if holder is not None else "local"
    if via == "control":
        if log_url.startswith("embedded://"):
            who = f"process {holder}" if holder is not None else "no process here"
            raise failure(f"store {target.name!r} is owned by {who}, and the embedded log is "
                          f"opened by one process only, so its owner cannot be asked to "
                          f"reload: stop the worker and rerun (it then reloads locally), or "
                          f"run the workers on Kafka", EXIT_LOG)
        _reload_via_control(target, log_url, source, timeout, progress)
    else:
        if holder is not None:
            raise failure(f"store {target.name!r} at {target.store_dir} is owned by process "
                          f"{holder}; use --via control to ask it", EXIT_LOG)
        _reload_locally(target, log_url, source, progress)


def _reload_locally(target: StoreTarget, log_url: str, source: str | None,
                    progress: bool | None) -> None:
    with _log_for(target, log_url) as log:
        bar = RestoreBar(f"reload {target.name}", enabled=progress)
        started = time.perf_counter()
        # a store with load() and an empty changelog is loaded by start() itself
        loads_on_start = target.store.has_loader and _changelog_empty(log, target)
        owner = _owner(target, log, bar)
        try:
            owner.start()
            if loads_on_start and source in (None, "load"):
                generation = owner.current.number
            else:
                generation = owner.reload(cast(ReloadSource | None, source))
            tables = _summary(owner)
        finally:
            bar.close()
            owner.close()
            target.store.bind(None)
    chosen = source or ("load" if target.store.has_loader else "changelog")
    click.echo(f"reloaded store {target.name} (app {target.app}) from {chosen}: generation "
               f"{generation} at {target.store_dir} in {time.perf_counter() - started:.2f}s; "
               f"tables: {tables}")


def _reload_via_control(target: StoreTarget, log_url: str, source: str | None,
                        timeout: float, progress: bool | None) -> None:
    from slither_stream.store.control import control_topic, request_reload

    with _log_for(target, log_url) as log:
        if sys.stderr.isatty() if progress is None else progress:
            click.echo(f"asking the owner of store {target.name} on "
                       f"{control_topic(target.app)}", err=True)
        reply = request_reload(log, target.app, target.name, source, timeout=timeout)
    if not reply.get("ok"):
        raise failure(f"the owner ({reply.get('owner')}) could not reload store "
                      f"{target.name!r}: {reply.get('error')}", EXIT_LOG)
    chosen = source or ("load" if target.store.has_loader else "changelog")
    click.echo(f"reloaded store {target.name} (app {target.app}) from {chosen}: generation "
               f"{reply.get('generation')}, by {reply.get('owner')} in "
               f"{reply.get('seconds')}s")
