"""``slither topics list|create|describe|delete``: manage topics on either log.

``--log URL`` is accepted on the group (``slither topics --log URL list``) and on each
subcommand; one given on the subcommand wins, then the group's, then $SLITHER_LOG.
"""

from __future__ import annotations

import click
from click.core import ParameterSource

from slither_stream.cli._common import (
    EXIT_USAGE,
    Group,
    failure,
    json_line,
    kafka_config_option,
    log_option,
    opened_log,
    reports_errors,
)
from slither_stream.errors import UnknownTopicError
from slither_stream.log import TopicSpec

EXIT_CODES = "Exit codes: 0 ok, 2 bad arguments or unknown/existing topic, 3 log failure."


@click.group("topics", cls=Group, epilog=EXIT_CODES)
@click.option("--log", "group_log_url", default=None, metavar="URL",
              help="Log for the subcommand (embedded://PATH or kafka://host:port); "
                   "a --log after the subcommand wins.")
@kafka_config_option
def topics_command(group_log_url: str | None) -> None:
    """List, create, describe and delete topics."""


def chosen_log(log_url: str) -> str:
    """The subcommand's ``--log`` when given on its command line, else the group's,
    else the subcommand's own default ($SLITHER_LOG, then the embedded log)."""
    context = click.get_current_context()
    parent = context.parent
    group_url = parent.params.get("group_log_url") if parent is not None else None
    if group_url and context.get_parameter_source("log_url") is not ParameterSource.COMMANDLINE:
        return str(group_url)
    return log_url


@topics_command.command("list", epilog=EXIT_CODES)
@log_option
@click.option("-l", "--long", "long_format", is_flag=True,
              help="Also print partitions and cleanup policy.")
@reports_errors
def list_topics(*, log_url: str, long_format: bool) -> None:
    """Print the names of user topics, one per line, sorted."""
    with opened_log(chosen_log(log_url)) as log:
        for name in log.list_topics():
            if not long_format:
                click.echo(name)
                continue
            info = log.describe_topic(name)
            policy = "compact" if info.compacted else "delete"
            click.echo(f"{name}\tpartitions={info.partitions}\tcleanup={policy}")


def parse_configs(values: tuple[str, ...]) -> dict[str, str]:
    configs: dict[str, str] = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"expected KEY=VALUE, got {item!r}",
                                     param_hint="'--config'")
        configs[key.strip()] = value.strip()
    return configs


@topics_command.command("create", epilog=EXIT_CODES)
@click.argument("names", metavar="NAME...", nargs=-1, required=True)
@click.option("-p", "--partitions", type=click.IntRange(min=1), default=1, show_default=True,
              help="Number of partitions.")
@click.option("--compacted", is_flag=True, help="Keep only the last value per key.")
@click.option("--retention-ms", type=click.IntRange(min=-1), default=None,
              help="How long records are kept (-1: forever; default: the log's).")
@click.option("--config", "configs", multiple=True, metavar="KEY=VALUE",
              help="Extra topic config (Kafka topic configs by name); repeatable.")
@click.option("--if-not-exists", is_flag=True,
              help="Succeed when a topic of that name already exists.")
@log_option
@reports_errors
def create_topics(names: tuple[str, ...], *, partitions: int, compacted: bool,
                  retention_ms: int | None, configs: tuple[str, ...], if_not_exists: bool,
                  log_url: str) -> None:
    """Create one or more topics with the same shape."""
    extra = parse_configs(configs)
    specs = [TopicSpec(name, partitions, compacted=compacted, retention_ms=retention_ms,
                       config=dict(extra)) for name in names]
    with opened_log(chosen_log(log_url)) as log:
        log.create_topics(specs, exist_ok=if_not_exists)
    for name in names:
        click.echo(f"created {name}")


@topics_command.command("describe", epilog=EXIT_CODES)
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of text.")
@log_option
@reports_errors
def describe_topic(name: str, *, as_json: bool, log_url: str) -> None:
    """Show a topic's shape and the first/next offset of each partition."""
    with opened_log(chosen_log(log_url)) as log:
        info = log.describe_topic(name)
        partitions = log.partitions_of(name)
        begins = log.beginning_offsets(partitions)
        ends = log.end_offsets(partitions)
    rows = [{"partition": tp.partition, "beginning_offset": begins[tp], "end_offset": ends[tp]}
            for tp in partitions]
    if as_json:
        click.echo(json_line({
            "name": info.name, "partitions": info.partitions, "compacted": info.compacted,
            "retention_ms": info.retention_ms, "offsets": rows,
        }).decode(), nl=False)
        return
    retention = "default" if info.retention_ms is None else str(info.retention_ms)
    click.echo(f"topic         {info.name}")
    click.echo(f"partitions    {info.partitions}")
    click.echo(f"cleanup       {'compact' if info.compacted else 'delete'}")
    click.echo(f"retention_ms  {retention}")
    click.echo(f"{'partition':>9}  {'beginning':>12}  {'end':>12}")
    for row in rows:
        click.echo(f"{row['partition']:>9}  {row['beginning_offset']:>12}  "
                   f"{row['end_offset']:>12}")


@topics_command.command("delete", epilog=EXIT_CODES)
@click.argument("names", metavar="NAME...", nargs=-1, required=True)
@click.option("--if-exists", is_flag=True, help="Succeed when a topic does not exist.")
@log_option
@reports_errors
def delete_topics(names: tuple[str, ...], *, if_exists: bool, log_url: str) -> None:
    """Delete topics with their records and committed offsets."""
    with opened_log(chosen_log(log_url)) as log:
        existing = set(log.list_topics())
        missing = [name for name in names if name not in existing]
        if missing and not if_exists:
            raise failure(f"unknown topic(s): {', '.join(missing)}", EXIT_USAGE)
        for name in names:
            if name in missing:
                continue
            try:
                log.delete_topic(name)
            except UnknownTopicError:
                if not if_exists:
                    raise
                continue
            click.echo(f"deleted {name}")
