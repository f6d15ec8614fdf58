"""The entry point of a worker process: rebuild the pipe, run a Worker until SIGTERM.

A supervisor (:mod:`.supervisor`) spawns worker processes with a picklable
:class:`WorkerSpec`; each loads the topology, serves its metrics (and its keyed
state, ``/state``: see :mod:`slither_stream.pipe.query`), opens the log with a
client id that advertises that endpoint to its groups, and runs a
:class:`~slither_stream.pipe.deploy.worker.Worker`. A stop drains (commits and
leaves the groups) within ``drain_timeout`` or the process exits anyway.
"""

from __future__ import annotations

import faulthandler
import hashlib
import logging
import os
import signal
import socket
import threading
from dataclasses import dataclass
from pathlib import Path

from slither_stream.errors import AuthenticationError, AuthorizationError
from slither_stream.log import open_log
from slither_stream.observability import configure_logging, start_observability
from slither_stream.pipe.definition import PipeDefinition
from slither_stream.pipe.deploy.parent_watch import ParentWatch
from slither_stream.pipe.deploy.worker import Worker
from slither_stream.pipe.engine.loop import StageHaltedError
from slither_stream.pipe.query.advertise import Advertised, endpoint_url, new_instance
from slither_stream.pipe.query.service import PREFIX as STATE_PREFIX
from slither_stream.pipe.query.service import StateQueries
from slither_stream.stop_signals import StopSignals
from slither_stream.store.app import DEFAULT_DATA_DIR

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
"""Exit code of a worker process whose stage halted, or that the broker refused
(wrong credentials, a missing ACL): not restarted (it would fail again the same
way); an operator fixes the cause and restarts it."""


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
    advertise_url: str | None = None
    """The endpoint this process advertises to its groups for state queries (the
    supervisor's public one; None: its own, when it serves one)."""
    kafka_config: str | None = None
    """The librdkafka properties file of every Kafka client (``--kafka-config``; None:
    ``$SLITHER_KAFKA_CONFIG``, which the process inherits). Read when the process
    starts, so changed credentials take effect at the next (re)start."""

    def host(self) -> str:
        """This host's name among the pipe's worker hosts: a hash of the machine's
        name and the absolute store directory. The same after a restart, so a
        restarted worker process reuses its transactional ids and fences what its
        killed predecessor left open; different on another machine, or with another
        ``--store-dir`` on this one, whose worker processes would otherwise share
        transactional ids with this host's and fence them."""
        store = Path(self.cwd or ".") / (self.store_dir or DEFAULT_DATA_DIR)
        where = f"{socket.gethostname()}\0{store.resolve()}".encode()
        return hashlib.blake2s(where, digest_size=4).hexdigest()

    def member(self, slot: int | str) -> str:
        """The member id of worker process ``slot`` on this host: its stages'
        transactional ids are ``<group>.<member>``."""
        return f"{self.host()}.{slot}"


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
    obs = start_observability(spec.metrics_port, metrics_host=spec.metrics_host)
    log = None
    try:
        server = obs.server
        url = spec.advertise_url or (None if server is None else
                                     endpoint_url(server.host, server.port))
        identity = Advertised(member, url, new_instance())
        try:
            log = open_log(spec.log_url, client_id=identity.client_id,
                           kafka_config=spec.kafka_config)
        except AuthenticationError as error:
            _log.error("%s", error)  # a restart would be refused the same way
            raise SystemExit(EXIT_HALTED) from error
        obs.metrics.watch_pipe_lag(log, definition, spec.stages or None)
        worker = Worker(log, definition, stages=spec.stages or None,
                        member=spec.member(member),
                        on_ready=obs.readiness.set_started, store_mode=spec.store_mode,
                        store_dir=spec.store_dir)
        if server is not None:
            server.add_route(STATE_PREFIX, StateQueries.for_worker(
                worker, client_id=identity.client_id))

        drain = _Drain(worker, spec.drain_timeout)
        try:
            with StopSignals(lambda _signum: drain()), ParentWatch(drain):
                worker.run()
        except (StageHaltedError, AuthorizationError, AuthenticationError) as error:
            _log.error("%s", error)
            raise SystemExit(EXIT_HALTED) from error
    finally:
        obs.stop()
        if log is not None:
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
