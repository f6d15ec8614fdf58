"""A :class:`Worker`: chosen stages of a pipe as consumer-group members in one process.

One :class:`~slither_stream.pipe.engine.loop.StageLoop` (a consumer-group member)
per stage, each in its own named thread, plus the pipe's stores for the worker's
lifetime. ``stop()`` (SIGTERM in a worker process) makes every stage finish the
batch in hand, commit, and leave its group, so another member takes the partitions
over from the committed offsets. Worker processes and their supervisor are in
:mod:`.worker_process` and :mod:`.supervisor`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence

from slither_stream.context import Context, new_session_id
from slither_stream.errors import AuthenticationError, AuthorizationError, ConfigError, PipeError
from slither_stream.log import Log
from slither_stream.pipe.access import required_access
from slither_stream.pipe.definition import PipeDefinition
from slither_stream.pipe.deploy import gc_policy
from slither_stream.pipe.deploy.runner import ensure_topics
from slither_stream.pipe.deploy.sessions import ReaderSession, StoreSession
from slither_stream.pipe.engine.loop import StageHaltedError, StageLoop

_log = logging.getLogger(__name__)


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
        """Whether :meth:`run` applies :mod:`slither_stream.pipe.deploy.gc_policy` to this
        process (with the defaults the collector walks every batch in hand many
        times over)."""
        self.runtimes: list[StageLoop] = []
        self._threads: list[threading.Thread] = []
        self._errors: list[tuple[str, BaseException]] = []
        self._finished = threading.Event()
        self._lock = threading.Lock()
        self._stopping = threading.Event()

    def run(self) -> None:
        """Start the stages and block until :meth:`stop` or a stage fails.

        Raises :class:`StageHaltedError` if a stage halted, :class:`AuthorizationError`
        if an ACL is missing (checked before any stage starts where the broker can
        tell, else when a stage first needs it; nothing is committed past it),
        :class:`PipeError` if a stage crashed (after stopping the other stages
        cleanly). A worker process exits with :data:`EXIT_HALTED` on a halt or a
        missing ACL (not restarted) and 1 on a crash (restarted by its supervisor).
        """
        if self.tune_gc:
            gc_policy.tune_for_stages()
        self.log.check_access(required_access(self.definition, stages=self.stage_names))
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
                runtime = StageLoop(self.log, self.definition, name, context=context,
                                    member=self.member, poll_timeout=self.poll_timeout,
                                    state_dir=self.store_dir)
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
            if isinstance(error, StageHaltedError | AuthorizationError | AuthenticationError):
                raise error  # restarting cannot help: an operator must act
            raise PipeError(f"worker stage {stage!r} of pipe {self.definition.name!r} "
                            f"failed: {error}") from error

    def stop(self) -> None:
        """Drain: every stage commits its finished work and leaves its group."""
        self._stopping.set()
        self._finished.set()

    def _run_stage(self, runtime: StageLoop) -> None:
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
