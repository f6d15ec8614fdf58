"""``slither consume TOPIC``: print a topic's records, one JSON document per line.

Where reading starts: without ``--group`` there is no saved position, so it starts
at the first stored record (like ``kcat -C``); with ``--group`` it continues from the
group's committed offsets and commits what it printed, and ``--from-beginning``
makes the group start over. Without ``--follow`` it stops at the end offsets seen
when it started; with ``--follow`` it keeps waiting for new records until
interrupted (Ctrl-C or SIGTERM end it cleanly, exit 0).

Values are decoded with Avro of ``--schema`` when given, else with the serde
``--topology`` declares for the topic, else as JSON.
"""

from __future__ import annotations

import os
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

from slither_stream.cli._common import (
    EXIT_DATA,
    EXIT_LOG,
    Command,
    failure,
    json_line,
    log_option,
    opened_log,
    reports_errors,
)
from slither_stream.cli._topology import NAMESPACE_HELP, TOPOLOGY_HELP, topic_serde
from slither_stream.errors import SerializationError
from slither_stream.log import Consumer, Log, Record, TopicPartition
from slither_stream.serde import Serde
from slither_stream.serde.base import decode_record
from slither_stream.stop_signals import StopSignals

EPILOG = ("Exit codes: 0 ok, 1 some records could not be decoded (reported on stderr, the "
          "others printed), 2 bad arguments or unknown topic, 3 log failure or timeout.")
POLL_S = 0.5


StartOf = Callable[[list[TopicPartition]], dict[TopicPartition, int]]


@dataclass
class ReadState:
    """Per-partition progress of one consume run."""

    ends: dict[TopicPartition, int]
    start_of: StartOf
    printed: int = 0
    undecodable: int = 0
    framed_ids: set[int] = field(default_factory=set)
    """Schema ids of undecodable values that look like Confluent-framed Avro."""
    next_offsets: dict[TopicPartition, int] = field(default_factory=dict)
    starts: dict[TopicPartition, int] = field(default_factory=dict)

    def reached_end(self, consumer: Consumer, *, ask_position: bool) -> bool:
        """True when every assigned partition has been read up to its end offset.

        Progress is tracked from where each partition started and the records seen,
        which costs nothing; the consumer's position is asked for only with
        ``ask_position`` (after an empty poll), to step over what no record shows,
        such as a transaction marker at the end of a partition.
        """
        assigned = consumer.assignment()
        if not assigned:
            return False
        unknown = [tp for tp in assigned if tp not in self.starts]
        if unknown:
            self.starts.update(self.start_of(unknown))
        behind = [tp for tp in assigned
                  if max(self.starts[tp], self.next_offsets.get(tp, 0)) < self.ends.get(tp, 0)]
        if not behind:
            return True
        if not ask_position:
            return False
        positions = consumer.position(behind)
        return all((positions.get(tp) or 0) >= self.ends.get(tp, 0) for tp in behind)


def record_line(record: Record, value: Any, show_offsets: bool) -> bytes:
    if not show_offsets:
        return json_line(value)
    key = None if record.key is None else record.key.decode("utf-8", errors="backslashreplace")
    return json_line({"topic": record.topic, "partition": record.partition,
                      "offset": record.offset, "timestamp_ms": record.timestamp_ms,
                      "key": key, "value": value})


@contextmanager
def stop_on_signals() -> Iterator[threading.Event]:
    """An event set by SIGTERM (and SIGINT), so ``--follow`` ends between polls."""
    stop = threading.Event()
    with StopSignals(lambda _signum: stop.set()):
        yield stop


def start_reading(log: Log, group: str | None, consumer: Consumer, topic: str,
                  from_beginning: bool) -> StartOf:
    """Join ``group`` or assign every partition; return where each partition starts."""
    partitions = log.partitions_of(topic)

    def beginnings(tps: list[TopicPartition]) -> dict[TopicPartition, int]:
        return log.beginning_offsets(tps)

    if group is None:
        begins = beginnings(partitions)
        consumer.assign([(tp, begins[tp]) for tp in partitions])
        return beginnings
    if not from_beginning:
        def committed_or_beginning(tps: list[TopicPartition]) -> dict[TopicPartition, int]:
            committed = log.committed_offsets(group, tps)
            begins = beginnings(tps)
            starts = {}
            for tp in tps:
                done = committed.get(tp)
                starts[tp] = begins[tp] if done is None else done
            return starts

        consumer.subscribe([topic])
        return committed_or_beginning
    rewound: set[TopicPartition] = set()

    def rewind(assigned: list[TopicPartition]) -> None:
        fresh = [tp for tp in assigned if tp not in rewound]
        if fresh:
            begins = beginnings(fresh)
            for tp in fresh:
                consumer.seek(tp, begins[tp])
                rewound.add(tp)

    consumer.subscribe([topic], on_assign=rewind)
    return beginnings


@click.command("consume", cls=Command, epilog=EPILOG)
@click.argument("topic")
@click.option("-g", "--group", metavar="G",
              help="Read as consumer group G: continue from its committed offsets, commit.")
@click.option("--from-beginning", is_flag=True,
              help="With --group: start at the first stored record, not the committed one.")
@click.option("-n", "--limit", type=click.IntRange(min=1), default=None,
              help="Stop after printing this many records.")
@click.option("-f", "--follow", is_flag=True, help="Keep waiting for new records.")
@click.option("--show-offsets", is_flag=True,
              help="Print {topic, partition, offset, timestamp_ms, key, value} per record.")
@click.option("--schema", metavar="NAME",
              help="Decode values as Avro with this schema; overrides --topology.")
@click.option("--topology", metavar="PATH", help=TOPOLOGY_HELP)
@click.option("--namespace", default=None, help=NAMESPACE_HELP)
@click.option("--schemas", "schemas_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Directory of .avsc files (default: $SLITHER_SCHEMAS or ./schemas).")
@click.option("--timeout", type=click.FloatRange(min=0.1), default=30.0, show_default=True,
              help="Without --follow: give up if no record arrives for this many seconds "
                   "before the end is reached.")
@log_option
@reports_errors
def consume_command(topic: str, *, group: str | None, from_beginning: bool, limit: int | None,
                    follow: bool, show_offsets: bool, schema: str | None,
                    topology: str | None, namespace: str | None,
                    schemas_dir: Path | None, timeout: float, log_url: str) -> None:
    """Print the records of TOPIC as JSON lines (decoded values by default).

    Without --group reading starts at the first stored record; with --group it
    continues from the group's committed offsets and commits what it printed.
    Without --follow it stops at the end offsets seen when it started.
    """
    serde = topic_serde(topic, topology=topology, namespace=namespace, schema=schema,
                        schemas_dir=schemas_dir)
    with opened_log(log_url) as log, stop_on_signals() as stop:
        partitions = log.partitions_of(topic)  # unknown topic: a clear error, at once
        ends = {} if follow else log.end_offsets(partitions)
        consumer = log.consumer(group or f"slither-consume-{uuid.uuid4().hex[:12]}")
        try:
            state = ReadState(ends, start_reading(log, group, consumer, topic, from_beginning))
            read(consumer, state, serde, limit=limit, follow=follow, stop=stop,
                 show_offsets=show_offsets, timeout=timeout, commit=group is not None)
        finally:
            consumer.close()
    if state.undecodable:
        hint = ""
        if state.framed_ids:
            ids = ", ".join(str(i) for i in sorted(state.framed_ids)[:5])
            hint = (f" (they look like Confluent-framed Avro, schema id {ids}: pass "
                    f"--topology with the pipe that declares the topic, or --schema NAME)")
        raise failure(f"{state.undecodable} record(s) could not be decoded{hint}", EXIT_DATA)


def read(consumer: Consumer, state: ReadState, serde: Serde[Any], *, limit: int | None,
         follow: bool, stop: threading.Event, show_offsets: bool, timeout: float,
         commit: bool) -> None:
    out = sys.stdout.buffer
    last_progress = time.monotonic()
    last_was_empty = False
    while not stop.is_set():
        if limit is not None and state.printed >= limit:
            break
        if not follow and state.reached_end(consumer, ask_position=last_was_empty):
            break
        wanted = 500 if limit is None else min(500, limit - state.printed)
        batch = consumer.poll_batch(wanted, POLL_S)
        last_was_empty = not batch
        if not batch:
            if not follow and time.monotonic() - last_progress > timeout:
                raise failure(f"no record arrived for {timeout:.0f}s before reaching the "
                              f"end of the topic ({state.printed} printed)", EXIT_LOG)
            continue
        last_progress = time.monotonic()
        done: dict[TopicPartition, int] = {}
        lines: list[bytes] = []
        for record in batch:
            if limit is not None and state.printed >= limit:
                break
            done[record.topic_partition] = record.offset + 1
            try:
                value = decode_record(serde, record)
            except SerializationError as error:
                state.undecodable += 1
                click.echo(f"skipped: {error}", err=True)
                value_bytes = record.value or b""
                if serde.name == "json" and len(value_bytes) > 5 and value_bytes[0] == 0:
                    state.framed_ids.add(int.from_bytes(value_bytes[1:5], "big"))
                continue
            lines.append(record_line(record, value, show_offsets))
            state.printed += 1
        try:
            out.write(b"".join(lines))
            out.flush()
        except BrokenPipeError:  # the reader went away (| head): stop quietly
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            stop.set()
        state.next_offsets.update(done)
        if commit and done:
            consumer.commit(done)
