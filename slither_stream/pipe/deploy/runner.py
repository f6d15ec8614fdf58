"""``Runner.run`` / ``.stream`` / ``.count``: drive a pipe in-process through its topics.

A run uses the same topic topology a deployment uses: the inputs are produced to
the pipe's input topic, one :class:`StageLoop` per stage consumes and produces
(each in its own named thread, owned and stopped by the run), and a collector reads
the output topics. On the embedded log in a temporary directory by default; pass
``log=`` (a :class:`Log` or URL) to run on another log, in which case the run's
topics (and its stores, see :mod:`.sessions`) live under a namespace of their own
(``<pipe>.<session>``) so runs never see each other's records; the store
directories of such a namespace, which no later run can name, are removed at the end.

A run streams: inputs are read from their iterable as the first stage keeps up
(:mod:`.inputs`: at most ``MAX_INPUTS_AHEAD`` records ahead of it) and outputs are
handed on as they are read. ``stream`` yields them, ``count`` only counts them (what
``slither run`` needs), so neither holds the inputs or the outputs and memory stays
bounded whatever the input size; ``run`` keeps every output item for its caller.

The run is complete when every input was produced, every stage has consumed
everything its upstream produced (counted from acknowledged writes) and the
collector has read every output record.
Each run has a session id; the pipe's stores are started and their views registered
for the session, and unregistered when the run ends, also on error. Telemetry:
``slither.pipe.run.{start,stop,exception}`` with ``pipe``, ``input_count`` (None at
start when the inputs have no length; the count produced at stop) and
``session_id``.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sized
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from slither_stream import telemetry
from slither_stream.context import Context, new_session_id
from slither_stream.errors import ConfigError, PipeError
from slither_stream.item import Item
from slither_stream.log import Log, Record, open_log
from slither_stream.log.types import TopicPartition, TopicSpec
from slither_stream.pipe.declaration import Pipe
from slither_stream.pipe.definition import PipeDefinition
from slither_stream.pipe.deploy.inputs import InputFeeder, wrap_inputs
from slither_stream.pipe.deploy.sessions import StoreSession
from slither_stream.pipe.engine.loop import StageLoop

_log = logging.getLogger(__name__)


class PipeRunError(PipeError):
    """A run failed; ``partial`` holds the outputs collected before the failure
    (:meth:`Runner.run`), ``counts`` how many reached each output (every method)."""

    def __init__(self, message: str, *, partial: dict[str, list[Item]],
                 stage: str | None = None, counts: dict[str, int] | None = None) -> None:
        self.partial = partial
        self.stage = stage
        self.counts = counts or {}
        super().__init__(message)


@dataclass
class RunHandle:
    """What a run created: its log, namespace, definition and stage runtimes."""

    definition: PipeDefinition
    log: Log
    session_id: str
    runtimes: list[StageLoop] = field(default_factory=list)
    threads: list[threading.Thread] = field(default_factory=list)
    errors: list[tuple[str, BaseException]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def ensure_topics(log: Log, definition: PipeDefinition) -> None:
    """Create every topic of ``definition`` (existing ones are kept)."""
    log.create_topics([TopicSpec(name, partitions) for name, partitions in definition.topics()],
                      exist_ok=True)


class Runner:
    """Runs a pipe in-process. Use :meth:`run` for all outputs, :meth:`stream` for
    ``(output, item)`` pairs as they arrive, :meth:`count` for how many reached each
    output (nothing kept)."""

    @staticmethod
    def run(pipe: Pipe | PipeDefinition, inputs: Iterable[Any], **options: Any
            ) -> dict[str, list[Item]]:
        """Drive ``inputs`` through ``pipe``; return ``{output: [Item, ...]}``.

        Every declared output and ``default`` is a key, empty or not. Options:
        ``log`` (Log or URL; default a temporary embedded log), ``namespace``,
        ``session_id``, ``metadata`` (run metadata on the context), ``timeout``
        (seconds for the whole run; None waits), ``keys`` (a function payload -> key
        for the input records). An input of type ``bytes`` is produced as the raw
        record value (for example a line of a JSONL file): the first stage decodes
        it, and undecodable input goes to that stage's dead-letter topic.
        ``store_dir``: where the pipe's stores keep their RocksDB state (default: in
        the temporary directory of a default run, else ``.slither-stores``).
        """
        definition = _definition(pipe)
        results: dict[str, list[Item]] = {name: [] for name in definition.outputs}
        try:
            for output, item in Runner.stream(definition, inputs, **options):
                results[output].append(item)
        except PipeRunError as error:
            for output, items in results.items():
                error.partial.setdefault(output, [])
                error.partial[output] = items + error.partial[output]
                error.counts[output] = len(error.partial[output])
            raise
        return results

    @staticmethod
    def count(pipe: Pipe | PipeDefinition, inputs: Iterable[Any], **options: Any
              ) -> dict[str, int]:
        """Drive ``inputs`` through ``pipe``; return ``{output: records}``, keeping
        no input and no output (output records are counted, not decoded), so memory
        stays bounded for inputs of any size (``slither run``). Options as for
        :meth:`run`; a failure raises :class:`PipeRunError` with ``counts`` so far."""
        definition = _definition(pipe)
        counts = dict.fromkeys(definition.outputs, 0)
        records = _records(definition, inputs, options)
        by_topic: dict[str, str] = {}
        try:
            for record in records:
                output = by_topic.get(record.topic)
                if output is None:
                    output = by_topic[record.topic] = _output_of(definition, record.topic)
                counts[output] += 1
        except PipeRunError as error:
            error.counts = counts
            raise
        return counts

    @staticmethod
    def stream(pipe: Pipe | PipeDefinition, inputs: Iterable[Any], *,
               log: Log | str | None = None, namespace: str | None = None,
               session_id: str | None = None, metadata: Mapping[str, Any] | None = None,
               timeout: float | None = None, keys: Any = None,
               store_dir: str | None = None,
               ) -> Iterator[tuple[str, Item]]:
        """Yield ``(output_name, item)`` as output records arrive (see :meth:`run`);
        the inputs are read as the pipe keeps up."""
        definition = _definition(pipe)
        records = _records(definition, inputs, {
            "log": log, "namespace": namespace, "session_id": session_id,
            "metadata": metadata, "timeout": timeout, "keys": keys,
            "store_dir": store_dir})
        return _decoded(definition, records)


_OPTIONS = frozenset({"log", "namespace", "session_id", "metadata", "timeout", "keys",
                      "store_dir"})


def _records(definition: PipeDefinition, inputs: Iterable[Any],
             options: Mapping[str, Any]) -> Iterator[Record]:
    """The run's output records as they arrive (arguments checked at once)."""
    unknown = sorted(set(options) - _OPTIONS)
    if unknown:
        raise ConfigError(f"unknown Runner option(s) {', '.join(unknown)}; accepted: "
                          f"{', '.join(sorted(_OPTIONS))}")
    items = wrap_inputs(inputs, options.get("keys"))
    size = len(inputs) if isinstance(inputs, Sized) else None
    return _stream(definition, items, size, log=options.get("log"),
                   namespace=options.get("namespace"),
                   session=options.get("session_id") or new_session_id(),
                   metadata=options.get("metadata") or {},
                   timeout=options.get("timeout"), store_dir=options.get("store_dir"))


def _decoded(definition: PipeDefinition, records: Iterator[Record]
             ) -> Iterator[tuple[str, Item]]:
    """``(output, item)`` per record, each decoded in its output's envelope. The
    definition's topics are named at the first record (the run's namespace)."""
    outputs: dict[str, tuple[str, Any]] = {}
    for record in records:
        known = outputs.get(record.topic)
        if known is None:
            name = _output_of(definition, record.topic)
            known = outputs[record.topic] = (name, _envelope_of(definition, name,
                                                                record.topic))
        yield known[0], known[1].decode(record)


def _output_of(definition: PipeDefinition, topic: str) -> str:
    """The output name of ``topic`` (``<any namespace>.out.<name>``)."""
    name = topic.rpartition(".out.")[2]
    if name not in definition.outputs:
        raise PipeError(f"record from {topic!r}, which is no output of pipe "
                        f"{definition.name!r}")
    return name


def _envelope_of(definition: PipeDefinition, output: str, topic: str) -> Any:
    namespace = topic[:-len(f".out.{output}")]
    return definition.with_namespace(namespace).envelope(topic)


def _definition(pipe: Pipe | PipeDefinition) -> PipeDefinition:
    if isinstance(pipe, PipeDefinition):
        return pipe
    if isinstance(pipe, Pipe):
        compiled: PipeDefinition = pipe.compile()
        return compiled
    raise ConfigError(f"Runner needs a Pipe or PipeDefinition, not {type(pipe).__name__}")


def _stream(definition: PipeDefinition, items: Iterator[Item | bytes], size: int | None, *,
            log: Log | str | None, namespace: str | None, session: str,
            metadata: Mapping[str, Any], timeout: float | None,
            store_dir: str | None) -> Iterator[Record]:
    with ExitStack() as cleanup:
        opened, definition, default_dir = _open(cleanup, definition, log, namespace, session)
        data_dir = store_dir or default_dir
        if namespace is None and log is not None and definition.stores:
            # a session namespace no later run can name: its store directories go
            # (its changelogs stay on the log, as its other topics do)
            base = Path(data_dir) if data_dir else Path(_default_store_dir())
            cleanup.callback(shutil.rmtree, base / definition.namespace, True)
        stores = cleanup.enter_context(StoreSession(definition, opened, session,
                                                    data_dir=data_dir))
        context = Context(pipe=definition.name, session_id=session,
                          stores=stores.stores, metadata=dict(metadata),
                          view_resolver=stores.resolver)
        with telemetry.span(telemetry.PIPE_RUN, {
            "pipe": definition.name, "input_count": size, "session_id": session,
        }) as span_meta:
            starts = _output_starts(opened, definition)
            ensure_topics(opened, definition)
            handle = RunHandle(definition, opened, session)
            cleanup.callback(_stop_all, handle)
            _start_stages(handle, context, data_dir)
            feeder = InputFeeder(opened, definition, items)
            cleanup.callback(feeder.close)
            try:
                yield from _collect(handle, starts, feeder, timeout)
            finally:
                span_meta["input_count"] = feeder.produced


def _default_store_dir() -> str:
    from slither_stream.store.app import DEFAULT_DATA_DIR

    return DEFAULT_DATA_DIR


def _open(cleanup: ExitStack, definition: PipeDefinition, log: Log | str | None,
          namespace: str | None, session: str) -> tuple[Log, PipeDefinition, str | None]:
    """The log to run on and the definition placed under the run's namespace."""
    if log is None:
        directory = tempfile.mkdtemp(prefix=f"slither-{definition.name}-")
        cleanup.callback(shutil.rmtree, directory, True)
        opened = open_log(f"embedded://{directory}/log")
        cleanup.callback(opened.close)
        return (opened, definition.with_namespace(namespace or definition.namespace),
                f"{directory}/stores")
    if isinstance(log, str):
        opened = open_log(log)
        cleanup.callback(opened.close)
    elif isinstance(log, Log):
        opened = log
    else:
        raise ConfigError(f"log must be a Log or a log URL, not {type(log).__name__}")
    ns = namespace or f"{definition.name}.{session[:12]}"
    return opened, definition.with_namespace(ns), None


def _output_starts(log: Log, definition: PipeDefinition) -> dict[TopicPartition, int]:
    """Where this run's outputs begin: the end of existing output topics, 0 for new ones
    (asked before the topics are created: a fresh topic has nothing to skip)."""
    existing = set(log.list_topics())
    partitions = [tp for topic in definition.output_topics.values() if topic in existing
                  for tp in log.partitions_of(topic)]
    starts = log.end_offsets(partitions) if partitions else {}
    for name, topic in definition.output_topics.items():
        if topic not in existing:
            for partition in range(definition.partitions):
                starts[TopicPartition(topic, partition)] = 0
            _log.debug("output %s starts on new topic %s", name, topic)
    return starts


def _start_stages(handle: RunHandle, context: Context, state_dir: str | None) -> None:
    for plan in handle.definition.stages:
        runtime = StageLoop(handle.log, handle.definition, plan.name, context=context,
                            member=handle.session_id[:12], state_dir=state_dir)
        handle.runtimes.append(runtime)

        def target(runtime: StageLoop = runtime) -> None:
            try:
                runtime.run()
            except BaseException as error:
                with handle.lock:
                    handle.errors.append((runtime.name, error))

        thread = threading.Thread(
            target=target, name=f"slither-stage-{handle.definition.name}-{plan.name}",
            daemon=True)
        handle.threads.append(thread)
        thread.start()


def _stop_all(handle: RunHandle) -> None:
    for runtime in handle.runtimes:
        runtime.stop()
    for thread in handle.threads:
        thread.join()


def _collect(handle: RunHandle, starts: dict[TopicPartition, int], feeder: InputFeeder,
             timeout: float | None) -> Iterator[Record]:
    """Feed the inputs and read the output topics until every input was produced,
    every stage is done and every output was read."""
    definition = handle.definition
    first = handle.runtimes[0].stats
    deadline = None if timeout is None else time.monotonic() + timeout
    collected = 0
    consumer = handle.log.consumer(f"{definition.namespace}.collector.{handle.session_id}")
    try:
        consumer.assign(list(starts.items()))
        while True:
            _raise_stage_errors(handle)
            with first.lock:
                finished = first.consumed
            fed = feeder.feed(finished)
            # while inputs go in, take only the outputs already there
            for record in consumer.poll_batch(500, 0.0 if fed else 0.05):
                collected += 1
                yield record
            if feeder.done and _finished(handle, feeder.produced, collected):
                return
            if deadline is not None and time.monotonic() > deadline:
                raise PipeRunError(
                    f"pipe {definition.name!r} did not finish within {timeout} s "
                    f"(stages: {_progress_text(handle)})", partial={})
    finally:
        consumer.close()


def _raise_stage_errors(handle: RunHandle) -> None:
    with handle.lock:
        errors = list(handle.errors)
    if errors:
        stage, error = errors[0]
        raise PipeRunError(f"pipe {handle.definition.name!r} stopped: stage {stage!r} "
                           f"failed: {error}", partial={}, stage=stage) from error


def _finished(handle: RunHandle, input_count: int, collected: int) -> bool:
    expected = input_count
    produced_outputs = 0
    for runtime in handle.runtimes:
        stats = runtime.stats
        with stats.lock:
            if stats.consumed < expected:
                return False
            expected = stats.forwarded
            produced_outputs += sum(stats.outputs.values())
    return collected >= produced_outputs


def _progress_text(handle: RunHandle) -> str:
    parts = []
    for runtime in handle.runtimes:
        stats = runtime.stats
        with stats.lock:
            parts.append(f"{runtime.name}: consumed={stats.consumed} "
                         f"forwarded={stats.forwarded} outputs={dict(stats.outputs)}")
    return "; ".join(parts)
