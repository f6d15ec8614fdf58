"""``slither describe TOPOLOGY``: the stage graph of a pipe, without touching the log.

Stages with their kinds, input topics, consumer groups, outputs, dead-letter topics
and stores (with their changelog topics), as text, a Mermaid flowchart, a Graphviz
digraph, or the JSON of :meth:`PipeDefinition.describe`. Nothing is opened or
created: the names are the ones ``slither worker`` would use under ``--namespace``.
"""

from __future__ import annotations

import os
from typing import Any

import click

from slither_stream.cli._common import (
    DEBUG_ENV,
    EXIT_USAGE,
    Command,
    failure,
    json_line,
    reports_errors,
)
from slither_stream.cli._topology import NAMESPACE_HELP, load_definition
from slither_stream.pipe.definition import PipeDefinition
from slither_stream.pipe.render import pipe_graph, render_dot, render_mermaid, render_text


def store_changelogs(definition: PipeDefinition) -> dict[str, list[str]]:
    """The changelog topics of each store of the pipe (by its name in the pipe).

    Store classes are instantiated to ask for their tables, as a worker would; the
    changelogs belong to the pipe's namespace (the stores' app), as its topics do.
    """
    from slither_stream.pipe.deploy.sessions import store_instances
    from slither_stream.store.owner import changelog_topic

    try:
        instances = store_instances(definition)
        return {
            spec.name: [changelog_topic(definition.namespace, store.store_name(), table.name)
                        for table in store.tables()]
            for spec, store in zip(definition.stores, instances, strict=True)
        }
    except click.ClickException:
        raise
    except Exception as error:
        if os.environ.get(DEBUG_ENV):
            raise
        raise failure(f"cannot instantiate the stores of pipe {definition.name!r}: "
                      f"{type(error).__name__}: {error}", EXIT_USAGE) from error


@click.command("describe", cls=Command)
@click.argument("topology")
@click.option("--format", "output_format",
              type=click.Choice(["text", "mermaid", "dot", "json"]), default="text",
              show_default=True, help="text for people, mermaid/dot for diagrams, json for "
                                      "scripts.")
@click.option("--namespace", default=None, help=NAMESPACE_HELP)
@reports_errors
def describe_command(topology: str, output_format: str, namespace: str | None) -> None:
    """Print the stage graph of the pipe in TOPOLOGY: stages, kinds, topics, groups,
    outputs and stores."""
    definition = load_definition(topology, namespace)
    changelogs = store_changelogs(definition)
    if output_format == "json":
        described: dict[str, Any] = definition.describe()
        for entry in described["stores"]:
            entry["changelogs"] = changelogs.get(entry["name"], [])
        click.echo(json_line(described).decode(), nl=False)
    elif output_format == "mermaid":
        click.echo(render_mermaid(pipe_graph(definition, changelogs)))
    elif output_format == "dot":
        click.echo(render_dot(pipe_graph(definition, changelogs)))
    else:
        click.echo(render_text(definition, changelogs))
