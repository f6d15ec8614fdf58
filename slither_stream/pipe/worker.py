"""Long-lived stage workers and the supervisor that keeps them running.

A :class:`Worker` runs chosen stages of a pipe in one process: one
:class:`StageRuntime` (a consumer-group member) per stage, each in its own named
thread, plus the pipe's stores for the worker's lifetime. ``stop()`` (SIGTERM in a
worker process) makes every stage finish the batch in hand, commit, and leave its
group, so another member takes the partitions over from the committed offsets.

A :class:`Supervisor` starts ``processes`` worker processes (spawned, never forked:
librdkafka and threads do not survive a fork), waits on their sentinels, and
restarts any that exits without being asked to (a crash, SIGKILL, an OOM kill),
up to ``max_restarts`` within ``max_seconds`` (then it gives up; see
:mod:`slither_stream.pipe.restarts`).
Each process slot keeps its member id across restarts, so under exactly_once the
restarted process reuses its transactional id and fences the dead one's zombie
transactions. The embedded log is single-process: with it, ``processes`` must be 1.
"""

from __future__ import annotations

import contextlib
import dataclasses
import faulthandler
import logging
import multiprocessing
import multiprocessing.connection
import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from slither_stream.context import Context, new_session_id
from slither_stream.errors import ConfigError, PipeError
from slither_stream.log import Log, open_log
from slither_stream.observability import Members, configure_logging, start_observability
from slither_stream.pipe import gc_policy
from slither_stream.pipe.definition import PipeDefinition
from slither_stream.pipe.parent_watch import ParentWatch
from slither_stream.pipe.restarts import RestartWindow
from slither_stream.pipe.runner import ensure_topics
from slither_stream.pipe.runtime import StageHaltedError, StageRuntime
from slither_stream.pipe.sessions import ReaderSession, StoreSession, store_instances
from slither_stream.stop_signals import StopSignals

_log = logging.getLogger(__name__)

EXIT_DRAIN_TIMEOUT = 4
"""Exit code of a worker process that was stopped but could not drain in time, and
of a supervisor that had to kill a worker process which would not stop."""

STOP_GRACE_S = 5.0
"""How long after its own drain deadline the supervisor waits for a worker process
before killing it."""

STACK_DUMP_WAIT_S = 1.0
"""Time a stuck worker process gets to write its threads' stacks before SIGKILL."""

EXIT_HALTED = 3
"""Exit code of a worker process whose stage halted: not restarted (it would halt
again on the same record); an operator fixes the cause and restarts it."""


class Worker:
    """Runs ``stages`` (default: all) of ``definition`` on ``log`` until stopped."""

    def __init__(self, log: Log, definition: PipeDefinition, *,
                 stages: Sequence[str] | None = None, member: str = "0",
                 session_id: str | None = None, poll_timeout: float = 0.2,
                 on_ready: Callable[[], None] | None = None, store_mode: str = "owner",
                 store_dir: str | None = None, tune_gc: bool = True) -> None:
        chosen = list(stages) if stages else [plan.name for plan in definition.stages]
        for name in chosen:
            definition.stage(name)  # raises ConfigError naming the known stages
        if len(set(chosen)) != len(chosen):
            raise ConfigError(f"stage named twice in {chosen}")
        self.log = log
        self.definition = definition
        self.stage_names = chosen
        self.member = member
        self.session_id = session_id or new_session_id()
        self.poll_timeout = poll_timeout
        self.on_ready = on_ready
        """Called once the stores are restored and every stage thread has started."""
        if store_mode not in ("owner", "reader"):
            raise ConfigError(f"store_mode must be 'owner' or 'reader', not {store_mode!r}")
        self.store_mode = store_mode
        self.store_dir = store_dir
        self.tune_gc = tune_gc
        """Whether :meth:`run` applies :mod:`slither_stream.pipe.gc_policy` to this
        process (the collector otherwise costs a stage a fifth of its time)."""
        self.runtimes: list[StageRuntime] = []
        self._threads: list[threading.Thread] = []
        self._errors: list[tuple[str, BaseException]] = []
        self._finished = threading.Event()
        self._lock = threading.Lock()
        self._stopping = threading.Event()

    def run(self) -> None:
        """Start the stages and block until :meth:`stop` or a stage fails.

        Raises :class:`StageHaltedError` if a stage halted, :class:`PipeError` if one
        crashed (after stopping the other stages cleanly). A worker process exits
        with :data:`EXIT_HALTED` on a halt (not restarted) and 1 on a crash
        (restarted by its supervisor).
        """
        if self.tune_gc:
            gc_policy.tune_for_stages()
        ensure_topics(self.log, self.definition)
        sessions: StoreSession | ReaderSession
        if self.store_mode == "reader":
            sessions = ReaderSession(self.definition, self.session_id, data_dir=self.store_dir)
        else:
            sessions = StoreSession(self.definition, self.log, self.session_id,
                                    data_dir=self.store_dir)
        with sessions as stores:
            context = Context(pipe=self.definition.name, session_id=self.session_id,
                              stores=stores.stores, view_resolver=stores.resolver)
            if self.tune_gc:
                gc_policy.freeze_startup_objects()  # the restored stores' objects too
            for name in self.stage_names:
                runtime = StageRuntime(self.log, self.definition, name, context=context,
                                       member=self.member, poll_timeout=self.poll_timeout)
                self.runtimes.append(runtime)
                thread = threading.Thread(
                    target=self._run_stage, args=(runtime,),
                    name=f"slither-worker-{self.definition.name}-{name}-{self.member}")
                self._threads.append(thread)
                thread.start()
            if self.on_ready is not None:
                self.on_ready()
            try:
                self._finished.wait()
            finally:
                self._stop_runtimes()
        with self._lock:
            errors = list(self._errors)
        if errors:
            stage, error = errors[0]
            if isinstance(error, StageHaltedError):
                raise error
            raise PipeError(f"worker stage {stage!r} of pipe {self.definition.name!r} "
                            f"failed: {error}") from error

    def stop(self) -> None:
        """Drain: every stage commits its finished work and leaves its group."""
        self._stopping.set()
        self._finished.set()

    def _run_stage(self, runtime: StageRuntime) -> None:
        try:
            runtime.run()
        except BaseException as error:
            _log.error("stage %s stopped: %s", runtime.name, error)
            with self._lock:
                self._errors.append((runtime.name, error))
        finally:
            self._finished.set()

    def _stop_runtimes(self) -> None:
        for runtime in self.runtimes:
            runtime.stop()
        for thread in self._threads:
            thread.join()


# -- worker processes --------------------------------------------------------------


@dataclass(frozen=True)
class WorkerSpec:
    """What a worker process needs to rebuild its pipe (all picklable)."""

    topology: str
    log_url: str
    stages: tuple[str, ...] = ()
    namespace: str | None = None
    cwd: str | None = None
    store_mode: str = "owner"
    store_dir: str | None = None
    metrics_port: int | None = None
    """Port of /metrics, /healthz, /livez (the supervisor's; see :meth:`Supervisor.run`)."""
    metrics_host: str = "127.0.0.1"
    log_level: str | None = None
    log_format: str = "text"
    drain_timeout: float = 30.0
    """Seconds a stopping worker process may spend draining before it exits anyway."""


def worker_main(spec: WorkerSpec, member: str) -> None:
    """Entry point of a worker process: load the topology, run until SIGTERM."""
    from slither_stream.pipe.loading import load_topology

    if spec.cwd is not None:
        os.chdir(spec.cwd)
    level = spec.log_level or os.environ.get("SLITHER_LOG_LEVEL", "WARNING")
    if spec.log_format == "json":
        configure_logging(level, "json", fields={"member": member, "pid": os.getpid()})
    else:
        logging.basicConfig(level=level.upper(),
                            format=f"%(asctime)s worker-{member} pid %(process)d %(levelname)s "
                                   "%(name)s: %(message)s")
    # the supervisor sends SIGUSR1 to a worker process that outlived its drain
    # deadline before killing it: every thread's stack goes to stderr, even with the
    # main thread stuck in C code
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    definition: PipeDefinition = load_topology(spec.topology).compile()
    if spec.namespace:
        definition = definition.with_namespace(spec.namespace)
    log = open_log(spec.log_url)
    obs = start_observability(spec.metrics_port, metrics_host=spec.metrics_host)
    try:
        obs.metrics.watch_pipe_lag(log, definition, spec.stages or None)
        worker = Worker(log, definition, stages=spec.stages or None, member=member,
                        on_ready=obs.readiness.set_started, store_mode=spec.store_mode,
                        store_dir=spec.store_dir)

        drain = _Drain(worker, spec.drain_timeout)
        try:
            with StopSignals(lambda _signum: drain()), ParentWatch(drain):
                worker.run()
        except StageHaltedError as error:
            _log.error("%s", error)
            raise SystemExit(EXIT_HALTED) from error
    finally:
        obs.stop()
        log.close()


class _Drain:
    """Stops a worker process once (SIGTERM, SIGINT or its supervisor's exit) and
    forces it out if the drain overruns ``deadline`` seconds.

    A drain commits and leaves the group, which needs the broker; with the broker
    unreachable it would block for as long as the client keeps retrying. Leaving
    without the commit is safe: uncommitted records are redelivered (at-least-once)
    and an open transaction is aborted by the broker (exactly-once).
    """

    def __init__(self, worker: Worker, deadline: float) -> None:
        self._worker = worker
        self._deadline = deadline
        self._lock = threading.Lock()
        self._started = False

    def __call__(self) -> None:
        with self._lock:
            if self._started:
                return
            self._started = True
        self._worker.stop()
        timer = threading.Timer(self._deadline, self._force)
        timer.name = "slither-drain-deadline"
        timer.daemon = True
        timer.start()

    def _force(self) -> None:
        _log.error("drain did not finish within %.1f s; exiting without it; the "
                   "threads were at:", self._deadline)
        for handler in logging.getLogger().handlers:
            handler.flush()
        faulthandler.dump_traceback(all_threads=True)
        logging.shutdown()
        os._exit(EXIT_DRAIN_TIMEOUT)


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

    def start_slot(self, slot: int) -> None:
        process = self._context.Process(
            target=worker_main, args=(self._slot_spec(slot), str(slot)),
            name=f"slither-worker-{slot}", daemon=False)
        process.start()
        self._children[slot] = process
        _log.info("started worker slot %d as pid %s", slot, process.pid)

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
        return dataclasses.replace(self.spec, metrics_port=port, metrics_host="127.0.0.1")

    def run(self) -> int:
        """Start the workers and supervise them; returns the exit code for the CLI.

        With ``metrics_port``, the supervisor serves /metrics (its own and every
        worker process's, labeled ``member``), /healthz (200 once its stores are
        restored and every worker process is ready) and /livez.
        """
        obs = start_observability(
            self.spec.metrics_port, metrics_host=self.spec.metrics_host,
            members=self.members if self.spec.metrics_port is not None else None)
        try:
            with ExitStack() as stack:
                if self.owns_stores:
                    self._own_stores(stack)
                obs.readiness.set_started()
                return self._supervise()
        finally:
            obs.stop()

    def _own_stores(self, stack: ExitStack) -> None:
        """Start the pipe's stores here (restore/load) before any worker reads them."""
        from slither_stream.store.app import DEFAULT_DATA_DIR, StoreApp

        assert self.definition is not None
        log = stack.enter_context(open_log(self.spec.log_url))
        data_dir = Path(self.spec.cwd or ".") / (self.spec.store_dir or DEFAULT_DATA_DIR)
        stores = stack.enter_context(StoreApp(store_instances(self.definition), log=log,
                                              app=self.definition.name, data_dir=data_dir))
        # `slither reload` asks this owner over the app's control topic
        from slither_stream.store.control import ControlListener

        stack.enter_context(ControlListener(log, self.definition.name, stores.stores))
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
