"""Serdes by name, for configuration: ``"json"``, ``"raw"``, ``"string"``, ``"avro:NAME"``.

``avro:NAME`` is Avro of the registry's current schema ``NAME`` (a full name such as
``slither.examples.Transaction``, or an unambiguous short name) in Confluent framing;
``avro-bare:NAME`` is the same without the 5-byte header. Without an explicit
registry, schemas load from ``$SLITHER_SCHEMAS`` or else ``./schemas``.
``json-schema:NAME`` is JSON checked against the JSON Schema ``NAME.json`` of the same
directory. This is meant to run once per topic at start-up, not per record: it loads
the directory each call.

Two modes, chosen by configuration alone: without ``schema_registry`` (the default)
schema ids are the local CRC-64 ids of :mod:`~slither_stream.serde.schemas`; with a
``schema_registry`` (a :class:`~slither_stream.serde.registry.RegistryConfig` or
client) ``avro:`` and ``json-schema:`` specs give the registry-backed serdes, whose
ids are the registry's and whose subject comes from ``topic``. ``avro-bare:`` and the
schema-less specs are the same in both modes.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from slither_stream.errors import ConfigError
from slither_stream.serde.avro_serde import AvroSerde
from slither_stream.serde.base import Serde
from slither_stream.serde.json_schema import JsonSchemaSerde, load_json_schema
from slither_stream.serde.json_serde import JsonSerde
from slither_stream.serde.registry.avro import RegistryAvroSerde
from slither_stream.serde.registry.client import RegistryClient
from slither_stream.serde.registry.config import RegistryConfig
from slither_stream.serde.registry.json_schema import RegistryJsonSchemaSerde
from slither_stream.serde.schemas import SchemaRegistry
from slither_stream.serde.simple import RawSerde, StringSerde

SCHEMAS_ENV = "SLITHER_SCHEMAS"
"""The environment variable naming the directory of ``.avsc`` files."""
DEFAULT_SCHEMAS_DIR = "schemas"

_SIMPLE: dict[str, Callable[[], Serde[Any]]] = {
    "json": JsonSerde,
    "raw": RawSerde,
    "string": StringSerde,
}
_AVRO_KINDS = {"avro": True, "avro-bare": False}  # spec prefix -> Confluent framing
JSON_SCHEMA_KIND = "json-schema"
VALID_SPECS = (*_SIMPLE, "avro:<schema full name>", "avro-bare:<schema full name>",
               "json-schema:<schema file name>")
"""The serde spec strings :func:`serde_for` accepts, as shown in its error messages."""


def default_schema_dir() -> Path:
    """``$SLITHER_SCHEMAS`` if set, else ``schemas`` under the working directory."""
    return Path(os.environ.get(SCHEMAS_ENV) or DEFAULT_SCHEMAS_DIR)


def default_registry() -> SchemaRegistry:
    """A registry freshly loaded from :func:`default_schema_dir`."""
    return SchemaRegistry.load(default_schema_dir())


def uses_registry(spec: str | Serde[Any]) -> bool:
    """Whether ``spec`` gives a registry-backed serde when a schema registry is set."""
    if not isinstance(spec, str):
        return False
    kind = spec.strip().partition(":")[0].strip().lower()
    return kind in ("avro", JSON_SCHEMA_KIND)


def serde_for(
    spec: str | Serde[Any],
    *,
    registry: SchemaRegistry | None = None,
    schema_registry: RegistryConfig | RegistryClient | None = None,
    topic: str | None = None,
) -> Serde[Any]:
    """The serde a config string names; a Serde instance is returned unchanged.

    ``schema_registry`` switches ``avro:`` and ``json-schema:`` specs to the
    registry-backed serdes for ``topic`` (the registry is not contacted here: ids are
    looked up on first use). Raises ConfigError listing the valid specs for an
    unknown name, and the known schemas for an unknown schema name.
    """
    if not isinstance(spec, str):
        if isinstance(spec, Serde):
            return spec
        raise ConfigError(
            f"a serde must be a name or a Serde, got {type(spec).__name__}; "
            f"valid names: {', '.join(VALID_SPECS)}"
        )
    text = spec.strip()
    factory = _SIMPLE.get(text.lower())
    if factory is not None:
        return factory()
    kind, colon, schema_name = text.partition(":")
    kind = kind.strip().lower()
    schema_name = schema_name.strip()
    client = (RegistryClient.shared(schema_registry)
              if isinstance(schema_registry, RegistryConfig) else schema_registry)
    if colon and kind == JSON_SCHEMA_KIND:
        if not schema_name:
            raise ConfigError(f"serde {spec!r} needs a schema name, as in "
                              f"json-schema:<schema file name>")
        directory = registry.directory if registry is not None and registry.directory \
            else default_schema_dir()
        document, _path = load_json_schema(schema_name, directory)
        if client is not None:
            return RegistryJsonSchemaSerde(document, client, topic=topic, title=schema_name)
        return JsonSchemaSerde(document, title=schema_name)
    framing = _AVRO_KINDS.get(kind)
    if colon and framing is not None:
        if not schema_name:
            raise ConfigError(f"serde {spec!r} needs a schema name, as in avro:<schema full name>")
        chosen = registry if registry is not None else default_registry()
        if client is not None and framing:
            return RegistryAvroSerde(chosen.get(schema_name), client, topic=topic)
        return AvroSerde(chosen.get(schema_name), framing=framing, registry=chosen)
    raise ConfigError(f"unknown serde {spec!r}; valid: {', '.join(VALID_SPECS)}")
