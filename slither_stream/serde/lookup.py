"""Serdes by name, for configuration: ``"json"``, ``"raw"``, ``"string"``, ``"avro:NAME"``.

``avro:NAME`` is Avro of the registry's current schema ``NAME`` (a full name such as
``slither.examples.Transaction``, or an unambiguous short name) in Confluent framing;
``avro-bare:NAME`` is the same without the 5-byte header. Without an explicit
registry, schemas load from ``$SLITHER_SCHEMAS`` or else ``./schemas``. This is meant
to run once per topic at start-up, not per record: it loads the directory each call.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from slither_stream.errors import ConfigError
from slither_stream.serde.avro_serde import AvroSerde
from slither_stream.serde.base import Serde
from slither_stream.serde.json_serde import JsonSerde
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
VALID_SPECS = (*_SIMPLE, "avro:<schema full name>", "avro-bare:<schema full name>")
"""The serde spec strings :func:`serde_for` accepts, as shown in its error messages."""


def default_schema_dir() -> Path:
    """``$SLITHER_SCHEMAS`` if set, else ``schemas`` under the working directory."""
    return Path(os.environ.get(SCHEMAS_ENV) or DEFAULT_SCHEMAS_DIR)


def default_registry() -> SchemaRegistry:
    """A registry freshly loaded from :func:`default_schema_dir`."""
    return SchemaRegistry.load(default_schema_dir())


def serde_for(spec: str | Serde[Any], *, registry: SchemaRegistry | None = None) -> Serde[Any]:
    """The serde a config string names; a Serde instance is returned unchanged.

    Raises ConfigError listing the valid specs for an unknown name, and the known
    schemas for an unknown Avro schema name.
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
    framing = _AVRO_KINDS.get(kind.strip().lower())
    if colon and framing is not None:
        schema_name = schema_name.strip()
        if not schema_name:
            raise ConfigError(f"serde {spec!r} needs a schema name, as in avro:<schema full name>")
        chosen = registry if registry is not None else default_registry()
        return AvroSerde(chosen.get(schema_name), framing=framing, registry=chosen)
    raise ConfigError(f"unknown serde {spec!r}; valid: {', '.join(VALID_SPECS)}")
