"""``slither consume TOPIC``: print a topic's records, one JSON document per line.

Where reading starts: without ``--group`` there is no saved position, so it starts
at the first stored record (like ``kcat -C``); with ``--group`` it continues from the
group's committed offsets and commits what it printed, and ``--from-beginning``
makes the group start over. Without ``--follow`` it stops at the end offsets seen
when it started; with ``--follow`` it keeps waiting for new records until
interrupted (Ctrl-C or SIGTERM end it cleanly, exit 0).
"""

from __future__ import annotations

import os
import signal
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
from slither_stream.errors import SerializationError
from slither_stream.log import Consumer, Log, Record, TopicPartition
from slither_stream.serde import JsonSerde, SchemaRegistry, Serde, default_registry, serde_for
from slither_stream.serde.base import decode_record

EPILOG = ("Exit codes: 0 ok, 1 some records could not be decoded (reported on stderr, the "
          "others printed), 2 bad arguments or unknown topic, 3 log failure or timeout.")
POLL_S = 0.5


@dataclass
class ReadState:
    """Per-partition progress of one consume run."""

    ends: dict[TopicPartition, int]
    printed: int = 0
    undecodable: int = 0
    next_offsets: dict[TopicPartition, int] = field(default_factory=dict)
    committed: dict[TopicPartition, int | None] = field(default_factory=dict)

    def reached_end(self, consumer: Consumer) -> bool:
        """True when every assigned partition has been read up to its end offset.

        A partition the group had already read to the end yields no record and may
        have no position yet, so its committed offset counts as where it stands.
        """
        assigned = consumer.assignment()
        if not assigned:
            return False
        positions = consumer.position(assigned)
        unknown = [tp for tp in assigned
                   if positions.get(tp) is None and tp not in self.next_offsets
                   and tp not in self.committed]
        if unknown:
            self.committed.update(consumer.committed(unknown))
        for tp in assigned:
            end = self.ends.get(tp, 0)
            seen = max(positions.get(tp) or 0, self.next_offsets.get(tp, 0),
                       self.committed.get(tp) or 0)
            if seen < end:
                return False
        return True


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
    previous: dict[signal.Signals, Any] = {}

    def handler(signum: int, frame: object) -> None:
        stop.set()

    for signum in (signal.SIGTERM, signal.SIGINT):
        previous[signum] = signal.signal(signum, handler)
    try:
        yield stop
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)


def start_positions(log: Log, group: str | None, consumer: Consumer, topic: str,
                    from_beginning: bool) -> Callable[[list[TopicPartition]], None] | None:
    """Join ``group`` (returning its on-assign hook) or assign every partition."""
    partitions = log.partitions_of(topic)
    if group is None:
        begins = log.beginning_offsets(partitions)
        consumer.assign([(tp, begins[tp]) for tp in partitions])
        return None
    if not from_beginning:
        consumer.subscribe([topic])
        return None
    rewound: set[TopicPartition] = set()

    def rewind(assigned: list[TopicPartition]) -> None:
        fresh = [tp for tp in assigned if tp not in rewound]
        if fresh:
            begins = log.beginning_offsets(fresh)
            for tp in fresh:
                consumer.seek(tp, begins[tp])
                rewound.add(tp)

    consumer.subscribe([topic], on_assign=rewind)
    return rewind


def choose_serde(schema: str | None, schemas_dir: Path | None) -> Serde[Any]:
    if schema is None:
        return JsonSerde()
    registry = SchemaRegistry.load(schemas_dir) if schemas_dir else default_registry()
    return serde_for(f"avro:{schema}", registry=registry)


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
@click.option("--schema", metavar="NAME", help="Decode values as Avro with this schema.")
@click.option("--schemas", "schemas_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Directory of .avsc files (default: $SLITHER_SCHEMAS or ./schemas).")
@click.option("--timeout", type=click.FloatRange(min=0.1), default=30.0, show_default=True,
              help="Without --follow: give up if no record arrives for this many seconds "
                   "before the end is reached.")
@log_option
@reports_errors
def consume_command(topic: str, *, group: str | None, from_beginning: bool, limit: int | None,
                    follow: bool, show_offsets: bool, schema: str | None,
                    schemas_dir: Path | None, timeout: float, log_url: str) -> None:
    """Print the records of TOPIC as JSON lines (decoded values by default)."""
    serde = choose_serde(schema, schemas_dir)
    with opened_log(log_url) as log, stop_on_signals() as stop:
        partitions = log.partitions_of(topic)  # unknown topic: a clear error, at once
        state = ReadState(ends={} if follow else log.end_offsets(partitions))
        consumer = log.consumer(group or f"slither-consume-{uuid.uuid4().hex[:12]}")
        try:
            start_positions(log, group, consumer, topic, from_beginning)
            read(consumer, state, serde, limit=limit, follow=follow, stop=stop,
                 show_offsets=show_offsets, timeout=timeout, commit=group is not None)
        finally:
            consumer.close()
    if state.undecodable:
        raise failure(f"{state.undecodable} record(s) could not be decoded", EXIT_DATA)


def read(consumer: Consumer, state: ReadState, serde: Serde[Any], *, limit: int | None,
         follow: bool, stop: threading.Event, show_offsets: bool, timeout: float,
         commit: bool) -> None:
    out = sys.stdout.buffer
    last_progress = time.monotonic()
    while not stop.is_set():
        if limit is not None and state.printed >= limit:
            break
        if not follow and state.reached_end(consumer):
            break
        wanted = 500 if limit is None else min(500, limit - state.printed)
        batch = consumer.poll_batch(wanted, POLL_S)
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
