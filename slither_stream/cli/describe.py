"""``slither describe TOPOLOGY``: the stage graph of a pipe, without touching the log.

Stages with their kinds, input topics, consumer groups, outputs, dead-letter topics
and stores (with their changelog topics), as text, a Mermaid flowchart, a Graphviz
digraph, or the JSON of :meth:`PipeDefinition.describe`. Nothing is opened or
created: the names are the ones ``slither worker`` would use under ``--namespace``.

``--acls`` prints the Kafka ACLs the pipe's workers need instead (see
:mod:`slither_stream.pipe.access`), with the ``kafka-acls.sh`` commands that grant
them to ``--principal`` (default: the principal of ``--kafka-config``).
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
    kafka_config_option,
    reports_errors,
)
from slither_stream.cli._topology import NAMESPACE_HELP, load_definition
from slither_stream.pipe.definition import PipeDefinition
from slither_stream.pipe.render import pipe_graph, render_dot, render_mermaid, render_text


def store_changelogs(definition: PipeDefinition, *, by_store_name: bool = False
                     ) -> dict[str, list[str]]:
    """The changelog topics of each store of the pipe (by its name in the pipe, or
    with ``by_store_name`` by the name the store gives itself, as its owner uses).

    Store classes are instantiated to ask for their tables, as a worker would; the
    changelogs belong to the pipe's namespace (the stores' app), as its topics do.
    """
    from slither_stream.pipe.deploy.sessions import store_instances
    from slither_stream.store.owner import changelog_topic

    try:
        instances = store_instances(definition)
        return {
            (store.store_name() if by_store_name else spec.name):
                [changelog_topic(definition.namespace, store.store_name(), table.name)
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
@click.option("--acls", is_flag=True,
              help="Print the Kafka ACLs the pipe's workers need (text: a table and the "
                   "kafka-acls.sh commands; json: one object per ACL).")
@click.option("--principal", default=None, metavar="PRINCIPAL",
              help="Principal for --acls (User:NAME; default: the one --kafka-config "
                   "authenticates as).")
@kafka_config_option
@reports_errors
def describe_command(topology: str, output_format: str, namespace: str | None,
                     acls: bool, principal: str | None) -> None:
    """Print the stage graph of the pipe in TOPOLOGY: stages, kinds, topics, groups,
    outputs and stores (or, with --acls, the Kafka ACLs its workers need)."""
    definition = load_definition(topology, namespace)
    changelogs = store_changelogs(definition)
    if acls:
        print_acls(definition, store_changelogs(definition, by_store_name=True),
                   output_format, principal)
    elif output_format == "json":
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


def print_acls(definition: PipeDefinition, stores: dict[str, list[str]],
               output_format: str, principal: str | None) -> None:
    """The ACL table (or JSON) of ``definition`` (whose stores' changelogs are
    ``stores``) for ``principal``."""
    from slither_stream.pipe.access import acl_rows, kafka_acls_command, required_access

    who = principal or configured_principal() or "User:APP"
    rows = acl_rows(required_access(definition, stores=stores))
    if output_format == "json":
        for row in rows:
            click.echo(json_line({
                "principal": who, "resource_type": row.resource_type,
                "pattern": row.pattern, "name": row.name,
                "operations": list(row.operations), "reasons": list(row.reasons)}),
                nl=False)
        return
    if output_format != "text":
        raise failure("--acls prints text or json", EXIT_USAGE)
    click.echo(f"Kafka ACLs for pipe {definition.name} (namespace {definition.namespace}, "
               f"{definition.delivery}), principal {who}:")
    width = max(len(row.name) for row in rows)
    for row in rows:
        click.echo(f"  {row.resource_type:<16} {row.pattern:<8} {row.name:<{width}}  "
                   f"{','.join(row.operations):<16} {'; '.join(row.reasons)}")
    click.echo("\nREAD and WRITE imply DESCRIBE. CREATE is not needed if an admin creates "
               "the topics first;\nIDEMPOTENT_WRITE only on brokers before Kafka 2.8. "
               "Grant them with:")
    for row in rows:
        click.echo(f"  {kafka_acls_command(row, who)}")


def configured_principal() -> str | None:
    """The principal the Kafka client settings in effect (``--kafka-config``, the
    environment (``SLITHER_KAFKA_SASL_PASSWORD``...)) authenticate as; None when there are none."""
    from slither_stream.log.kafka._properties import configured_properties
    from slither_stream.log.kafka._properties import principal as principal_of

    config = configured_properties(None)
    return principal_of(config) if config else None
