"""``slither schemas register | check | list | diff``: a pipe's schemas and a registry.

The pipe's topics that carry ``avro:`` or ``json-schema:`` values (its input and its
outputs) each have a subject, named by the registry config's strategy (``topic``:
``<topic>-value``). The commands talk to the registry given by ``--registry``, else
the topology's ``schema_registry``, else ``$SLITHER_SCHEMA_REGISTRY``; credentials
and TLS come from the environment or ``$SLITHER_SCHEMA_REGISTRY_CONFIG`` and are never
printed.

* ``register`` registers each schema under its subject (the registry refuses an
  incompatible one, exit 1, naming the subject and the field);
* ``check`` runs the registry's compatibility test for each, before a deploy: one
  line per subject, exit 1 when any is incompatible (the version and the field that
  breaks it are named), 0 otherwise;
* ``list`` lists the registry's subjects with their latest version and id, or the
  versions of the subjects given;
* ``diff`` shows how each local schema differs from its subject's latest version
  (exit 1 when any differs, as diff(1)).
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from slither_stream.cli._common import (
    EXIT_DATA,
    EXIT_USAGE,
    Command,
    Group,
    failure,
    reports_errors,
)
from slither_stream.cli._topology import NAMESPACE_HELP, load_definition
from slither_stream.pipe.definition import PipeDefinition
from slither_stream.serde import SchemaRegistry, default_registry, serde_for, uses_registry
from slither_stream.serde.registry import (
    IncompatibleSchemaError,
    RegistryAvroSerde,
    RegistryClient,
    RegistryConfig,
    RegistryJsonSchemaSerde,
    Verdict,
    check_schema,
    resolve_config,
)

REGISTRY_HELP = ("Schema registry URL (default: the topology's schema_registry, else "
                 "$SLITHER_SCHEMA_REGISTRY); credentials come from the environment.")


@dataclass(frozen=True)
class TopicSchema:
    """One topic of a pipe whose values carry a registry schema."""

    role: str
    topic: str
    serde: RegistryAvroSerde | RegistryJsonSchemaSerde

    @property
    def subject(self) -> str:
        return self.serde.subject

    @property
    def text(self) -> str:
        """The local schema as pretty JSON (what ``diff`` compares)."""
        if isinstance(self.serde, RegistryAvroSerde):
            raw = self.serde.schema.raw
            return _pretty(raw if raw is not None else self.serde.schema.canonical)
        return _pretty(self.serde.schema)


def _pretty(document: Any) -> str:
    if isinstance(document, str):
        try:
            document = json.loads(document)
        except ValueError:
            return str(document)
    return json.dumps(document, indent=2, sort_keys=True)


def registry_client(url: str | None, definition: PipeDefinition | None) -> RegistryClient:
    """The client of ``--registry``, else the pipe's registry, else the environment's."""
    config: RegistryConfig | None
    if url:
        config = resolve_config(url)
    elif definition is not None and definition.schema_registry is not None:
        config = definition.schema_registry
    else:
        config = RegistryConfig.from_env()
    if config is None:
        raise failure("no schema registry: pass --registry URL or set "
                      "SLITHER_SCHEMA_REGISTRY", EXIT_USAGE)
    return RegistryClient(config)


def pipe_schemas(definition: PipeDefinition, client: RegistryClient,
                 schemas_dir: Path | None = None) -> list[TopicSchema]:
    """The input and outputs of ``definition`` that carry registry schemas."""
    schemas = SchemaRegistry.load(schemas_dir) if schemas_dir else (
        definition.schemas or default_registry())
    topics = [("input", definition.input_topic)] + [
        (f"output {name}", definition.output_topic(name)) for name in definition.outputs]
    found: list[TopicSchema] = []
    for role, topic in topics:
        spec = definition.serde_spec(topic)
        if not uses_registry(spec):
            continue
        serde = serde_for(spec, registry=schemas, schema_registry=client, topic=topic)
        assert isinstance(serde, RegistryAvroSerde | RegistryJsonSchemaSerde)
        found.append(TopicSchema(role, topic, serde))
    if not found:
        raise failure(f"pipe {definition.name!r} has no avro: or json-schema: topic: "
                      f"nothing to do with a schema registry", EXIT_USAGE)
    return found


def _verdict(client: RegistryClient, entry: TopicSchema) -> Verdict:
    serde = entry.serde
    if isinstance(serde, RegistryAvroSerde):
        return check_schema(client, entry.subject, serde.schema)
    candidate = serde.registry_schema()
    registered = client.lookup(entry.subject, candidate)
    latest = client.latest(entry.subject)
    version = latest.version if latest is not None else None
    if registered is not None:
        return Verdict(entry.subject, True, version, registered.schema_id)
    if latest is None:
        return Verdict(entry.subject, True, None, None)
    compatible = client.is_compatible(entry.subject, candidate)
    return Verdict(entry.subject, compatible, version, None,
                   "" if compatible else "the registry's compatibility rule refuses it")


# -- the commands ---------------------------------------------------------------------


@click.group("schemas", cls=Group)
def schemas_command() -> None:
    """A pipe's schemas and a schema registry: register, check, list, diff."""


def _pipe_options(function: Any) -> Any:
    function = click.option("--schemas", "schemas_dir",
                            type=click.Path(file_okay=False, path_type=Path), default=None,
                            help="Directory of the pipe's .avsc files (default: the "
                                 "topology's, $SLITHER_SCHEMAS or ./schemas).")(function)
    function = click.option("--namespace", default=None, help=NAMESPACE_HELP)(function)
    function = click.option("--registry", "registry_url", metavar="URL", default=None,
                            help=REGISTRY_HELP)(function)
    return click.argument("topology")(function)


@schemas_command.command("register", cls=Command)
@_pipe_options
@reports_errors
def register_command(topology: str, registry_url: str | None, namespace: str | None,
                     schemas_dir: Path | None) -> None:
    """Register the schema of each avro:/json-schema: topic of TOPOLOGY under its subject."""
    definition = load_definition(topology, namespace)
    client = registry_client(registry_url, definition)
    client.ensure_reachable()
    refused = 0
    for entry in pipe_schemas(definition, client, schemas_dir):
        registered = (entry.serde.registry_schema() if isinstance(
            entry.serde, RegistryJsonSchemaSerde) else _avro_schema(entry.serde))
        try:
            schema_id = client.register(entry.subject, registered)
        except IncompatibleSchemaError as error:
            refused += 1
            verdict = _verdict(client, entry)
            reason = verdict.reason or error.reason
            click.echo(f"{entry.subject}: REFUSED ({entry.role} {entry.topic}): "
                       f"incompatible with version {verdict.version}: {reason}")
            continue
        versions = client.versions(entry.subject)
        click.echo(f"{entry.subject}: id {schema_id}, version {versions[-1] if versions else '?'}"
                   f" ({entry.role} {entry.topic})")
    if refused:
        raise failure(f"{refused} schema(s) refused by {client.config}", EXIT_DATA)


def _avro_schema(serde: RegistryAvroSerde) -> Any:
    from slither_stream.serde.registry.client import avro_schema

    raw = serde.schema.raw
    return avro_schema(raw if raw is not None else serde.schema.canonical)


@schemas_command.command("check", cls=Command)
@_pipe_options
@reports_errors
def check_command(topology: str, registry_url: str | None, namespace: str | None,
                  schemas_dir: Path | None) -> None:
    """Run the registry's compatibility test for the schema of each avro:/json-schema:
    topic of TOPOLOGY (input and outputs); exit 1 naming any incompatible one."""
    definition = load_definition(topology, namespace)
    client = registry_client(registry_url, definition)
    client.ensure_reachable()
    bad = []
    for entry in pipe_schemas(definition, client, schemas_dir):
        verdict = _verdict(client, entry)
        click.echo(f"{verdict.describe()} ({entry.role} {entry.topic})")
        if not verdict.compatible:
            bad.append(f"{verdict.subject} version {verdict.version}: {verdict.reason}")
    if bad:
        raise failure(f"{len(bad)} incompatible schema(s) at {client.config}: "
                      + "; ".join(bad), EXIT_DATA)


@schemas_command.command("list", cls=Command)
@click.argument("subjects", nargs=-1)
@click.option("--registry", "registry_url", metavar="URL", default=None,
              help="Schema registry URL (default: $SLITHER_SCHEMA_REGISTRY).")
@reports_errors
def list_command(subjects: tuple[str, ...], registry_url: str | None) -> None:
    """List the registry's subjects with their latest version and id, or the versions
    of SUBJECTS."""
    client = registry_client(registry_url, None)
    client.ensure_reachable()
    if not subjects:
        for subject in client.subjects():
            latest = client.latest(subject)
            if latest is not None:
                click.echo(f"{subject}\tversion {latest.version}\tid {latest.schema_id}\t"
                           f"{latest.schema.schema_type or 'AVRO'}")
        return
    missing = []
    for subject in subjects:
        versions = client.versions(subject)
        if not versions:
            missing.append(subject)
            continue
        for version in versions:
            found = client.version(subject, version)
            if found is not None:
                click.echo(f"{subject}\tversion {version}\tid {found.schema_id}")
    if missing:
        raise failure(f"no such subject at {client.config}: {', '.join(missing)}", EXIT_DATA)


@schemas_command.command("diff", cls=Command)
@_pipe_options
@reports_errors
def diff_command(topology: str, registry_url: str | None, namespace: str | None,
                 schemas_dir: Path | None) -> None:
    """Show how each local schema of TOPOLOGY differs from its subject's latest version
    (exit 1 when any differs)."""
    definition = load_definition(topology, namespace)
    client = registry_client(registry_url, definition)
    client.ensure_reachable()
    differ = 0
    for entry in pipe_schemas(definition, client, schemas_dir):
        latest = client.latest(entry.subject)
        if latest is None or latest.schema.schema_str is None:
            differ += 1
            click.echo(f"{entry.subject}: not in the registry ({entry.role} {entry.topic})")
            continue
        theirs = _pretty(latest.schema.schema_str).splitlines()
        ours = entry.text.splitlines()
        lines = list(difflib.unified_diff(
            theirs, ours, fromfile=f"{entry.subject} version {latest.version} (registry)",
            tofile=f"{entry.topic} (local)", lineterm=""))
        if not lines:
            click.echo(f"{entry.subject}: same as version {latest.version}")
            continue
        differ += 1
        click.echo("\n".join(lines))
    if differ:
        raise failure(f"{differ} schema(s) differ from {client.config}", EXIT_DATA)
