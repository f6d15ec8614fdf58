"""JSON documents checked against a JSON Schema: ``json-schema:NAME`` specs.

:class:`JsonSchemaSerde` is :class:`~slither_stream.serde.JsonSerde` (orjson) plus a
check of every encoded value against one JSON Schema (``jsonschema``, compiled once);
a value that breaks the schema is a SerializationError naming the field path and the
rule. Decoding is plain JSON unless ``validate_decode=True``.

Schemas live beside the Avro ones, as ``<schemas dir>/<NAME>.json`` (one JSON Schema
document per file; :func:`load_json_schema`). With a schema registry the same spec
gives the registry-backed serde, which adds the Confluent frame
(:class:`~slither_stream.serde.registry.RegistryJsonSchemaSerde`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
from jsonschema import validators
from jsonschema.exceptions import SchemaError

from slither_stream.errors import ConfigError, SerializationError
from slither_stream.serde.json_serde import JsonSerde


def load_json_schema(name: str, directory: str | Path) -> tuple[dict[str, Any], str]:
    """The JSON Schema ``<directory>/<name>.json`` and the file's path; ConfigError
    names the file when it is missing or not a schema."""
    path = Path(directory) / f"{name}.json"
    try:
        document = orjson.loads(path.read_bytes())
    except OSError as error:
        known = sorted(p.stem for p in Path(directory).glob("*.json"))
        raise ConfigError(f"no JSON Schema {name!r} ({path}: {error.strerror}); "
                          f"known: {', '.join(known) or 'none'}") from error
    except orjson.JSONDecodeError as error:
        raise ConfigError(f"JSON Schema file {path} is not valid JSON: {error}") from error
    if not isinstance(document, dict):
        raise ConfigError(f"JSON Schema file {path} must hold a JSON object")
    return document, str(path)


class JsonSchemaSerde(JsonSerde):
    """JSON values checked against ``schema`` (a dict) when encoded (see the module
    docstring); ``title`` names it in errors (default: the schema's ``title``)."""

    def __init__(self, schema: dict[str, Any], *, title: str | None = None,
                 validate_decode: bool = False) -> None:
        super().__init__()
        if not isinstance(schema, dict):
            raise ConfigError(f"a JSON Schema must be an object, got {type(schema).__name__}")
        cls = validators.validator_for(schema)
        try:
            cls.check_schema(schema)
        except SchemaError as error:
            raise ConfigError(f"not a valid JSON Schema: {error.message}") from error
        self.schema = schema
        self.title = title or str(schema.get("title") or "schema")
        self.name = f"json-schema:{self.title}"
        self.validate_decode = validate_decode
        self._validator = cls(schema)

    def check(self, value: Any, operation: str = "encode") -> None:
        """Raise SerializationError naming the first field of ``value`` the schema refuses."""
        error = next(iter(self._validator.iter_errors(value)), None)
        if error is None:
            return
        path = "".join(f"[{part}]" if isinstance(part, int) else f".{part}"
                       for part in error.absolute_path).lstrip(".")
        raise SerializationError(f"{error.message} (JSON Schema {self.title}: "
                                 f"{error.validator})", serde=self.name, operation=operation,
                                 field=path or None)

    def encode(self, value: Any) -> bytes:
        self.check(value)
        return super().encode(value)

    def encode_transient(self, value: Any) -> bytes:
        self.check(value)
        return super().encode_transient(value)

    def decode(self, data: bytes) -> Any:
        value = super().decode(data)
        if self.validate_decode:
            self.check(value, "decode")
        return value

    def __repr__(self) -> str:
        return f"JsonSchemaSerde({self.title!r})"
