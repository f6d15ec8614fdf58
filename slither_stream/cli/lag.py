"""``slither lag TOPOLOGY``: how far behind each stage's consumer group is.

For every stage of the pipe: its consumer group, its input topic and, per partition,
the end offset, the group's committed offset and the lag, all read from the log
itself (:meth:`Log.lag`). The lag counts records the group would still receive, not
offsets: on Kafka, transaction markers and aborted records between the committed
offset and the end are not lag, so a drained exactly-once pipe shows 0 although
END - COMMITTED is 1 (its last commit marker) per partition. A partition the group
never committed on counts from the partition's first stored record (what the group
would read on start, since stages reset to ``earliest``).
"""

from __future__ import annotations

from typing import Any

import click

from slither_stream.cli._common import (
    EXIT_USAGE,
    Command,
    failure,
    json_line,
    log_option,
    opened_log,
    reports_errors,
)
from slither_stream.cli._topology import NAMESPACE_HELP, load_definition
from slither_stream.errors import UnknownTopicError
from slither_stream.log import Log
from slither_stream.pipe.definition import PipeDefinition, StagePlan

HEADERS = ("STAGE", "GROUP", "TOPIC", "PARTITION", "END", "COMMITTED", "LAG")


def stage_lag(log: Log, definition: PipeDefinition, plan: StagePlan) -> dict[str, Any]:
    """One stage's lag report (JSON-friendly)."""
    try:
        entries = log.lag(plan.group, plan.input_topic)
    except UnknownTopicError:
        raise failure(
            f"stage {plan.name!r} of pipe {definition.name!r}: input topic "
            f"{plan.input_topic!r} does not exist on {log.url} (have the workers run "
            f"under namespace {definition.namespace!r}? see --namespace)", EXIT_USAGE,
        ) from None
    return {
        "stage": plan.name,
        "kind": plan.kind,
        "group": plan.group,
        "topic": plan.input_topic,
        "lag": sum(entry.lag for entry in entries),
        "partitions": [
            {"partition": entry.partition, "end_offset": entry.end_offset,
             "committed": entry.committed, "lag": entry.lag}
            for entry in entries
        ],
    }


def lag_report(log: Log, definition: PipeDefinition,
               stages: tuple[str, ...] = ()) -> dict[str, Any]:
    """The lag of ``stages`` (default all) of ``definition`` on ``log``."""
    plans = [definition.stage(name) for name in stages] if stages else list(definition.stages)
    rows = [stage_lag(log, definition, plan) for plan in plans]
    return {"pipe": definition.name, "namespace": definition.namespace, "log": log.url,
            "lag": sum(row["lag"] for row in rows), "stages": rows}


def render_table(report: dict[str, Any]) -> str:
    """A plain aligned table, one line per stage partition, then the total."""
    lines: list[tuple[str, ...]] = [HEADERS]
    for stage in report["stages"]:
        for entry in stage["partitions"]:
            committed = "-" if entry["committed"] is None else str(entry["committed"])
            lines.append((stage["stage"], stage["group"], stage["topic"],
                          str(entry["partition"]), str(entry["end_offset"]), committed,
                          str(entry["lag"])))
    widths = [max(len(line[i]) for line in lines) for i in range(len(HEADERS))]
    numeric = {3, 4, 5, 6}
    text = []
    for line in lines:
        cells = [cell.rjust(widths[i]) if i in numeric else cell.ljust(widths[i])
                 for i, cell in enumerate(line)]
        text.append("  ".join(cells).rstrip())
    text.append(f"total lag {report['lag']} (pipe {report['pipe']}, "
                f"namespace {report['namespace']})")
    return "\n".join(text)


@click.command("lag", cls=Command)
@click.argument("topology")
@click.option("--stage", "stages", multiple=True,
              help="Only this stage (repeatable; default every stage).")
@click.option("--namespace", default=None, help=NAMESPACE_HELP)
@click.option("--format", "output_format", type=click.Choice(["text", "json"]),
              default="text", show_default=True, help="Table for people, JSON for scripts.")
@log_option
@reports_errors
def lag_command(topology: str, stages: tuple[str, ...], namespace: str | None,
                output_format: str, log_url: str) -> None:
    """Per stage and partition of the pipe in TOPOLOGY: end offset, committed, lag.

    Lag is the records the stage's group would still receive (transaction markers
    and aborted records are not counted, so a drained pipe shows 0). Committed is
    '-' where the group has not committed yet; its lag then counts every stored
    record of the partition.
    """
    definition = load_definition(topology, namespace)
    for name in stages:
        definition.stage(name)
    with opened_log(log_url) as log:
        report = lag_report(log, definition, stages)
    if output_format == "json":
        click.echo(json_line(report).decode(), nl=False)
    else:
        click.echo(render_table(report))
