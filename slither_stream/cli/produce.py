"""``slither produce TOPIC FILE|-``: JSON lines (or Avro) into a topic.

Values are written in the topic's serde: Avro of ``--schema`` when given, else the
serde ``--topology`` declares for the topic (``avro:<schema>``), else the JSON line
as written. A line that does not fit the schema is reported with the field.

Every valid line is produced, whatever the bad ones around it; each bad line is
reported on stderr with its number and reason, and any bad line makes the exit code
1, so a script notices. The final count goes to stdout.

Lines are read and judged :data:`BLOCK_LINES` at a time and each block is queued with
one ``produce_many`` call on a producer that reports failed records only
(``delivery_reports="errors"``): no Python callback or object per delivered record.
``flush`` at the end says how many records failed, if any.
"""

from __future__ import annotations

import itertools
import os
import stat
from pathlib import Path
from typing import IO, Any

import click

from slither_stream.cli._common import (
    EXIT_DATA,
    EXIT_USAGE,
    Command,
    failure,
    log_option,
    opened_log,
    reports_errors,
)
from slither_stream.cli._progress import Progress
from slither_stream.cli._records import KeySource, LineParser
from slither_stream.cli._topology import NAMESPACE_HELP, TOPOLOGY_HELP, topic_serde
from slither_stream.errors import ProduceError
from slither_stream.serde import Serde

EPILOG = ("Exit codes: 0 all lines produced, 1 some lines bad or not delivered (the valid "
          "ones were still produced), 2 bad arguments or unknown topic, 3 log failure.")

BLOCK_LINES = 2_000
"""Lines read, judged and queued together (one ``produce_many`` call)."""


def input_size(source: IO[bytes]) -> int | None:
    """Byte size of a regular input file (for the progress bar); None for pipes."""
    try:
        info = os.fstat(source.fileno())
    except (OSError, ValueError):
        return None
    return info.st_size if stat.S_ISREG(info.st_mode) else None


def choose_key(key_field: str | None, key_pointer: str | None) -> KeySource | None:
    if key_field is not None and key_pointer is not None:
        raise failure("use either --key-field or --key-pointer, not both", EXIT_USAGE)
    if key_field is not None:
        return KeySource.field(key_field)
    if key_pointer is not None:
        return KeySource.pointer(key_pointer)
    return None


AS_WRITTEN = frozenset({"json", "string", "raw"})
"""Serdes whose topics get the input line byte for byte (it is already JSON text)."""


def choose_serde(topic: str, *, topology: str | None, namespace: str | None,
                 schema: str | None, schemas_dir: Path | None) -> Serde[Any] | None:
    """None when lines are produced as written (JSON), else the topic's encoder."""
    serde = topic_serde(topic, topology=topology, namespace=namespace, schema=schema,
                        schemas_dir=schemas_dir)
    return None if serde.name in AS_WRITTEN else serde


@click.command("produce", cls=Command, epilog=EPILOG)
@click.argument("topic")
@click.argument("source", metavar="FILE|-", type=click.File("rb"))
@click.option("--key-field", metavar="NAME", help="Top-level field whose value keys the record.")
@click.option("--key-pointer", metavar="/JSON/POINTER",
              help="RFC 6901 pointer to the key, e.g. /user/id.")
@click.option("--schema", metavar="NAME",
              help="Encode as Avro with this schema (Confluent framing); overrides the "
                   "serde --topology declares.")
@click.option("--topology", metavar="PATH", help=TOPOLOGY_HELP)
@click.option("--namespace", default=None, help=NAMESPACE_HELP)
@click.option("--schemas", "schemas_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Directory of .avsc files (default: $SLITHER_SCHEMAS or ./schemas).")
@click.option("--progress/--no-progress", default=None,
              help="Progress on stderr (default: when stderr is a terminal).")
@click.option("--timeout", type=click.FloatRange(min=0.1), default=60.0, show_default=True,
              help="Seconds to wait for the log to acknowledge the records.")
@log_option
@reports_errors
def produce_command(topic: str, source: IO[bytes], *, key_field: str | None,
                    key_pointer: str | None, schema: str | None, topology: str | None,
                    namespace: str | None, schemas_dir: Path | None,
                    progress: bool | None, timeout: float, log_url: str) -> None:
    """Produce each JSON line of FILE (or stdin, '-') as one record of TOPIC, in the
    topic's serde (--schema, else what --topology declares for TOPIC, else JSON)."""
    key = choose_key(key_field, key_pointer)
    serde = choose_serde(topic, topology=topology, namespace=namespace, schema=schema,
                         schemas_dir=schemas_dir)
    parser = LineParser(topic, key=key, serde=serde)
    bad = 0
    produced = 0
    failed = 0
    first_error: str | None = None
    with opened_log(log_url) as log:
        log.describe_topic(topic)  # an unknown topic fails before any input is read
        producer = log.producer(delivery_reports="errors")
        try:
            with Progress(f"producing to {topic}", input_size(source),
                          enabled=progress) as shown:
                number = 1
                while block := list(itertools.islice(source, BLOCK_LINES)):
                    records, bad_lines = parser.parse(block, number)
                    number += len(block)
                    for line in bad_lines:
                        click.echo(f"line {line.number}: {line.reason}", err=True)
                    bad += len(bad_lines)
                    producer.produce_many(records)
                    produced += len(records)
                    shown.advance(sum(map(len, block)), len(records))
            try:
                producer.flush(timeout)
            except ProduceError as error:  # what failed, once everything was sent
                failed, first_error = min(error.undelivered, produced), str(error)
        finally:
            producer.close(timeout)
    click.echo(f"produced {produced - failed} records to {topic}")
    problems = []
    if bad:
        problems.append(f"{bad} bad line{'s' if bad != 1 else ''} skipped")
    if failed:
        problems.append(f"{failed} of {produced} records not delivered "
                        f"(first error: {first_error})")
    if problems:
        raise failure("; ".join(problems), EXIT_DATA)
