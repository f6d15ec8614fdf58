"""Loading a topology for the operator commands (lag, describe, replay, reload).

A topology file is user code: importing it may fail in any way (a missing module,
a syntax error, a bad declaration). Those are the caller's mistakes, so they become
one-line usage errors naming the file, not "internal error" reports.

``produce`` and ``consume`` also ask a topology which serde a topic carries
(:func:`topic_serde`), so Avro topics need no ``--schema``. A pipe with a schema
registry (or ``$SLITHER_SCHEMA_REGISTRY``) gives its registry-backed serdes.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import click

from slither_stream.cli._common import DEBUG_ENV, EXIT_USAGE, failure
from slither_stream.errors import ConfigError
from slither_stream.pipe.definition import PipeDefinition
from slither_stream.serde import JsonSerde, SchemaRegistry, Serde, default_registry, serde_for
from slither_stream.serde.registry.config import RegistryConfig


def load_definition(topology: str, namespace: str | None = None) -> PipeDefinition:
    """The compiled pipe of ``topology`` under ``namespace`` (default: the pipe name)."""
    from slither_stream.pipe.loading import load_topology

    try:
        definition: PipeDefinition = load_topology(topology).compile()
    except ConfigError:
        raise
    except click.ClickException:
        raise
    except Exception as error:
        if os.environ.get(DEBUG_ENV):
            raise
        raise failure(f"cannot load topology {topology!r}: {type(error).__name__}: {error}",
                      EXIT_USAGE) from error
    if namespace:
        definition = definition.with_namespace(namespace)
    return definition


NAMESPACE_HELP = "Topic namespace the workers use (default: the pipe name)."


TOPOLOGY_HELP = ("Topology file or module whose declared serde for TOPIC is used "
                 "(avro:<schema> topics are encoded/decoded as Avro; --schema overrides).")


def topology_serde_spec(topic: str, topology: str, namespace: str | None
                        ) -> tuple[str, PipeDefinition]:
    """The serde spec ``topology`` declares for ``topic`` (under ``namespace``), and the
    definition (whose registry resolves it). A topic the pipe does not use is a usage
    error listing the pipe's topics: a typo would otherwise silently mean JSON."""
    definition = load_definition(topology, namespace)
    known = definition.topic_serdes()
    if topic not in known:
        hint = "" if namespace else " (workers under another namespace: pass --namespace)"
        raise failure(f"topic {topic!r} is not a topic of pipe {definition.name!r} in "
                      f"{topology}{hint}; its topics: {', '.join(sorted(known))}", EXIT_USAGE)
    return known[topic], definition


def topic_serde(topic: str, *, topology: str | None, namespace: str | None,
                schema: str | None, schemas_dir: Path | None) -> Serde[Any]:
    """The serde for ``topic``: Avro of ``--schema`` when given, else the one the
    topology declares for the topic, else JSON."""
    if schema is not None:
        registry = SchemaRegistry.load(schemas_dir) if schemas_dir else default_registry()
        return serde_for(f"avro:{schema}", registry=registry,
                         schema_registry=RegistryConfig.from_env(), topic=topic)
    if topology is None:
        return JsonSerde()
    spec, definition = topology_serde_spec(topic, topology, namespace)
    declared = SchemaRegistry.load(schemas_dir) if schemas_dir else definition.schemas
    return serde_for(spec, registry=declared, schema_registry=definition.schema_registry,
                     topic=topic)
