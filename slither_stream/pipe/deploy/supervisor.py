"""The supervisor: keeps N worker processes of a pipe running.

A :class:`Supervisor` starts ``processes`` worker processes (spawned, never forked:
librdkafka and threads do not survive a fork), waits on their sentinels, and
restarts any that exits without being asked to (a crash, SIGKILL, an OOM kill),
up to ``max_restarts`` within ``max_seconds`` (then it gives up; see
:mod:`slither_stream.pipe.deploy.restarts`).
Each process slot keeps its member id across restarts, so under exactly_once the
restarted process reuses its transactional id and fences the dead one's zombie
transactions; the id names the host too (:meth:`WorkerSpec.host`), so the same
slot on two hosts does not share one. The embedded log is single-process: with it,
``processes`` must be 1.

Starting the first spawned process also starts multiprocessing's resource tracker
(``popen_spawn_posix`` asks ``resource_tracker.getfd()`` for every spawn), a process
of its own that multiprocessing never waits for: it exits once every holder of its
pipe (this process and the workers) has closed it, after the supervisor, as an
orphan that nobody reaps where PID 1 is not an init (a container, a test harness),
so a stopped worker left a process behind. Once its worker processes are gone the
supervisor stops the tracker itself and reaps it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import multiprocessing
import multiprocessing.connection
import os
import signal
import socket
import threading
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from slither_stream.errors import ConfigError
from slither_stream.log import open_log
from slither_stream.observability import Members, start_observability
from slither_stream.pipe.definition import PipeDefinition
from slither_stream.pipe.deploy.restarts import RestartWindow
from slither_stream.pipe.deploy.sessions import store_instances
from slither_stream.pipe.deploy.worker_process import (
    EXIT_DRAIN_TIMEOUT,
    EXIT_HALTED,
    STACK_DUMP_WAIT_S,
    STOP_GRACE_S,
    WorkerSpec,
    worker_main,
)
from slither_stream.pipe.query.advertise import endpoint_url
from slither_stream.pipe.query.proxy import StateProxy
from slither_stream.pipe.query.service import PREFIX as STATE_PREFIX

_log = logging.getLogger(__name__)


def _free_port() -> int:
    """A port free on 127.0.0.1 now (for a worker process's private endpoint)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Supervisor:
    """Keeps ``processes`` worker processes of ``spec`` alive until :meth:`stop`.

    On Kafka, a pipe's stores are owned by the supervisor (restored or loaded once,
    the single writer on this host) and the worker processes read them through
    StoreReaders. On the embedded log, which one process opens, the worker process
    owns them.
    """

    def __init__(self, spec: WorkerSpec, *, processes: int = 1, max_restarts: int = 10,
                 max_seconds: float = 60.0, definition: PipeDefinition | None = None) -> None:
        if isinstance(processes, bool) or not isinstance(processes, int) or processes < 1:
            raise ConfigError(f"processes must be an integer >= 1, not {processes!r}")
        if processes > 1 and spec.log_url.startswith("embedded://"):
            raise ConfigError(
                "the embedded log is opened by one process at a time; run more than one "
                "worker process on Kafka (--log kafka://host:port)")
        if definition is not None and spec.namespace:
            definition = definition.with_namespace(spec.namespace)
        self.definition = definition
        self.owns_stores = bool(definition is not None and definition.stores
                                and not spec.log_url.startswith("embedded://"))
        if self.owns_stores:
            spec = dataclasses.replace(spec, store_mode="reader")
        self.spec = spec
        self.processes = processes
        self.window = RestartWindow(max_restarts, max_seconds)
        """Gives up after more than ``max_restarts`` restarts within ``max_seconds``."""
        self.restarts = 0
        self._context = multiprocessing.get_context("spawn")
        self._children: dict[int, Any] = {}
        self._stopping = threading.Event()
        self._wake_r, self._wake_w = self._context.Pipe(duplex=False)
        self.members = Members()
        self.advertised: str | None = None
        """The public endpoint every worker process advertises (set by :meth:`run`
        when it serves one)."""

    def start_slot(self, slot: int) -> None:
        process = self._context.Process(
            target=worker_main, args=(self._slot_spec(slot), str(slot)),
            name=f"slither-worker-{slot}", daemon=False)
        process.start()
        self._children[slot] = process
        _log.info("started worker slot %d as pid %s (member %s)", slot, process.pid,
                  self.spec.member(slot))

    def pids(self) -> dict[int, int | None]:
        return {slot: process.pid for slot, process in self._children.items()}

    def _slot_spec(self, slot: int) -> WorkerSpec:
        """The spec of one worker process: with metrics, a private port on 127.0.0.1
        (base + 1 + slot, or a free one when the base is 0) that the supervisor's
        endpoint federates."""
        base = self.spec.metrics_port
        if base is None:
            return self.spec
        port = base + 1 + slot if base else _free_port()
        self.members.set(str(slot), f"http://127.0.0.1:{port}")
        return dataclasses.replace(self.spec, metrics_port=port, metrics_host="127.0.0.1",
                                   advertise_url=self.advertised)

    def run(self) -> int:
        """Start the workers and supervise them; returns the exit code for the CLI.

        With ``metrics_port``, the supervisor serves /metrics (its own and every
        worker process's, labeled ``member``), /healthz (200 once its stores are
        restored and every worker process is ready), /livez, and /state (keyed
        state queries, sent on to the worker process that owns the key; see
        :mod:`slither_stream.pipe.query.proxy`). Its worker processes advertise
        this endpoint (``advertise_url``, by default ``http://host:port``) to their
        groups.
        """
        obs = start_observability(
            self.spec.metrics_port, metrics_host=self.spec.metrics_host,
            members=self.members if self.spec.metrics_port is not None else None)
        try:
            if obs.server is not None:
                self.advertised = endpoint_url(obs.server.host, obs.server.port,
                                               self.spec.advertise_url)
                obs.server.add_route(STATE_PREFIX, StateProxy(self.members, self.advertised))
            with ExitStack() as stack:
                if self.owns_stores:
                    self._own_stores(stack)
                obs.readiness.set_started()
                return self._supervise()
        finally:
            obs.stop()
            self._reap_resource_tracker()

    def _reap_resource_tracker(self) -> None:
        """Stop multiprocessing's resource tracker and wait for it (see the module
        doc), unless a worker process is somehow still alive: it holds the tracker's
        pipe, so the tracker could not end yet."""
        from multiprocessing import resource_tracker

        if any(process.is_alive() for process in self._children.values()):
            _log.warning("worker processes still alive at exit; leaving the "
                         "multiprocessing resource tracker to them")
            return
        tracker = resource_tracker._resource_tracker  # the process-wide instance
        stop = getattr(tracker, "_stop", None)  # private, present since Python 3.8
        if stop is not None:
            stop()

    def _own_stores(self, stack: ExitStack) -> None:
        """Start the pipe's stores here (restore/load) before any worker reads them."""
        from slither_stream.store.app import DEFAULT_DATA_DIR, StoreApp

        assert self.definition is not None
        log = stack.enter_context(open_log(self.spec.log_url,
                                           kafka_config=self.spec.kafka_config))
        data_dir = Path(self.spec.cwd or ".") / (self.spec.store_dir or DEFAULT_DATA_DIR)
        # the stores belong to the deployment's namespace, as its topics do
        stores = stack.enter_context(StoreApp(store_instances(self.definition), log=log,
                                              app=self.definition.namespace,
                                              data_dir=data_dir))
        # `slither reload` asks this owner over the app's control topic
        from slither_stream.store.control import ControlListener

        stack.enter_context(ControlListener(log, self.definition.namespace, stores.stores))
        _log.info("supervisor owns stores %s in %s",
                  ", ".join(s.name for s in self.definition.stores), data_dir)

    def _supervise(self) -> int:
        for slot in range(self.processes):
            self.start_slot(slot)
        try:
            code = self._keep_running()
        except BaseException:
            self._stop_children()
            raise
        killed = self._stop_children()
        return EXIT_DRAIN_TIMEOUT if killed and code == 0 else code

    def _keep_running(self) -> int:
        """Restart the worker processes that exit until stopped; the exit code."""
        while not self._stopping.is_set():
            sentinels = {process.sentinel: slot for slot, process in self._children.items()}
            ready = multiprocessing.connection.wait([*sentinels, self._wake_r])
            for handle in ready:
                if handle is self._wake_r or self._stopping.is_set():
                    continue
                slot = sentinels[handle]
                process = self._children[slot]
                process.join()
                _log.warning("worker slot %d (pid %s) exited with code %s", slot,
                             process.pid, process.exitcode)
                if process.exitcode == EXIT_HALTED:
                    del self._children[slot]
                    if not self._children:
                        return 1
                    continue
                if not self.window.allow():
                    _log.error("worker processes restarted %d times within %g s; "
                               "giving up", self.window.recent, self.window.max_seconds)
                    self.stop()
                    return 1
                self.restarts += 1
                self.start_slot(slot)
        return 0

    def stop(self) -> None:
        """Ask the supervisor loop to end (safe from a signal handler)."""
        self._stopping.set()
        self._wake_w.send(b"stop")

    def _stop_children(self) -> bool:
        """SIGTERM the worker processes (they drain and commit) and wait for them;
        whether one had to be killed.

        A worker process forces itself out once its drain overruns ``drain_timeout``.
        One still alive :data:`STOP_GRACE_S` after that is stuck where its own
        deadline cannot act (stopped, or a thread holding the interpreter); it is
        asked for its threads' stacks (SIGUSR1, for the log) and killed, so a stop
        always ends.
        """
        alive = [process for process in self._children.values() if process.is_alive()]
        for process in alive:
            process.terminate()
        deadline = time.monotonic() + self.spec.drain_timeout + STOP_GRACE_S
        for process in alive:
            process.join(max(0.0, deadline - time.monotonic()))
        stuck = [process for process in alive if process.is_alive()]
        for process in stuck:
            _log.error("worker pid %s did not exit within %.1f s of SIGTERM; killing it "
                       "(its threads' stacks follow, if it can still write them)",
                       process.pid, self.spec.drain_timeout + STOP_GRACE_S)
            with contextlib.suppress(ProcessLookupError):
                os.kill(process.pid, signal.SIGUSR1)
        if stuck:
            time.sleep(STACK_DUMP_WAIT_S)
        for process in stuck:
            process.kill()
            process.join()
        return bool(stuck)
