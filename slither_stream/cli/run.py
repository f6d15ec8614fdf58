"""``slither run TOPOLOGY --input FILE.jsonl``: the main job, in one process.

Runs the pipe declared in TOPOLOGY over the JSON lines of FILE through its topics
on a log (the embedded log in ``.slither`` by default), then prints how many items
reached each output, how many records each stage dead-lettered, and the topics
where they are, so they can be read back with any consumer.

The run streams (:meth:`Runner.count`): lines are read as the first stage keeps up
and outputs are counted as they arrive, so memory stays bounded whatever the size
of FILE.

Inputs go to the pipe's input topic in the serde the topology declares for it (Avro
for ``avro:<schema>``). A line that is not JSON, or does not fit that schema, is
still sent (as the raw line) so the first stage dead-letters it; a schema misfit is
also reported on stderr with its line number and field.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import orjson

from slither_stream.cli._common import kafka_config_option
from slither_stream.context import new_session_id
from slither_stream.errors import SerializationError, SlitherError
from slither_stream.item import Item
from slither_stream.log import default_log_url, open_log
from slither_stream.log._secrets import redact_url
from slither_stream.serde import Serde


class InputLines:
    """The inputs of FILE, read as they are iterated (once): one per non-blank line,
    a parsed JSON payload (keyed by ``key_field`` when given), or the raw line when
    it is not valid JSON or does not encode with ``serde`` (the input topic's; the
    first stage sends the line to its dead-letter topic with the reason). ``count``
    is how many were read so far."""

    def __init__(self, path: Path, key_field: str | None,
                 serde: Serde[Any] | None = None) -> None:
        self.path = path
        self.key_field = key_field
        self.serde = serde
        self.count = 0

    def __iter__(self) -> Iterator[Any]:
        key_field, serde = self.key_field, self.serde
        with self.path.open("rb") as handle:
            for number, line in enumerate(handle, start=1):
                raw = line.rstrip(b"\r\n")
                if not raw.strip():
                    continue
                self.count += 1
                try:
                    payload = orjson.loads(raw)
                except orjson.JSONDecodeError:
                    yield raw
                    continue
                if serde is not None:
                    try:
                        serde.encode(payload)
                    except SerializationError as error:
                        click.echo(f"line {number}: {error} (sent to the dead-letter "
                                   "topic)", err=True)
                        yield raw
                        continue
                key = None
                if key_field is not None and isinstance(payload, dict) \
                        and key_field in payload:
                    key = str(payload[key_field])
                yield Item.wrap(payload, key=key)


@click.command("run")
@click.argument("topology")
@click.option("--input", "input_path", required=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="JSON lines file: one input payload per line.")
@click.option("--log", "log_url", default=None,
              help="Log URL (default: $SLITHER_LOG or embedded://.slither).")
@click.option("--namespace", default=None,
              help="Topic namespace for this run (default: <pipe>.<session>).")
@click.option("--key-field", default=None, help="Payload field to use as the record key.")
@click.option("--timeout", type=float, default=None, help="Give up after this many seconds.")
@kafka_config_option
def run_command(topology: str, *, input_path: Path, log_url: str | None,
                namespace: str | None, key_field: str | None, timeout: float | None) -> None:
    """Run the pipe declared in TOPOLOGY over FILE and print per-output counts."""
    from slither_stream.pipe.deploy.runner import PipeRunError, Runner
    from slither_stream.pipe.loading import load_topology

    try:
        pipe = load_topology(topology)
        definition = pipe.compile()
        declared = definition.envelope(definition.input_topic).serde
        inputs = InputLines(input_path, key_field,
                            None if definition.input_serde == "json" else declared)
        url = log_url or default_log_url()
        with open_log(url) as log:
            session = new_session_id()
            ns = namespace or f"{definition.name}.{session[:12]}"
            try:
                # a generated namespace is the run's own: its store directory goes
                counts = Runner.count(definition, inputs, log=log,
                                      namespace=namespace, session_id=session,
                                      timeout=timeout)
            except PipeRunError as error:
                click.echo(f"error: {error}", err=True)
                _report(log, definition.with_namespace(ns), error.counts, url,
                        inputs.count, topology=topology)
                sys.exit(1)
            _report(log, definition.with_namespace(ns), counts, url, inputs.count,
                    topology=topology)
    except SlitherError as error:
        click.echo(f"error: {error}", err=True)
        sys.exit(2)


def _report(log: Any, definition: Any, counts: dict[str, int], url: str,
            input_count: int, *, topology: str | None = None) -> None:
    click.echo(f"pipe {definition.name}: {input_count} inputs, log {redact_url(url)}, "
               f"namespace {definition.namespace}")
    click.echo(f"input topic: {definition.input_topic}")
    click.echo("outputs:")
    for name, topic in definition.output_topics.items():
        click.echo(f"  {name:<10} {counts.get(name, 0):>8}  {topic}")
    click.echo("dead letters:")
    for plan in definition.stages:
        partitions = log.partitions_of(plan.dlq_topic)
        ends = log.end_offsets(partitions)
        count = sum(ends.values())
        click.echo(f"  {plan.name:<10} {count:>8}  {plan.dlq_topic}")
    if topology is not None:  # how to read the outputs, in their declared serdes
        first = next(iter(definition.output_topics.values()))
        click.echo(f"read one back: slither consume {first} --topology {topology} "
                   f"--namespace {definition.namespace} --log {redact_url(url)}")
