"""Serdes: how payloads become record bytes and back.

Public API (everything else in this package is internal):

- :class:`Serde` -- the protocol (``name``, ``encode``, ``decode``);
  :func:`decode_record` / :func:`decode_record_key` decode a log record and locate
  failures at its topic, partition and offset.
- :class:`JsonSerde` (orjson), :class:`RawSerde` (bytes), :class:`StringSerde` (UTF-8),
  :class:`AvroSerde` (fastavro, optional Confluent framing, schema resolution).
- :class:`AvroSchema` and :class:`SchemaRegistry` -- schemas parsed once, loaded from
  a directory of ``.avsc`` files, found by full name or by deterministic id.
- :func:`serde_for` -- a serde from a config string (``"json"``, ``"avro:NAME"``).
- :func:`frame` / :func:`unframe` -- the Confluent wire header on its own.
- :class:`JsonSchemaSerde` -- JSON checked against a JSON Schema (``json-schema:NAME``).
- Schema registry mode (:mod:`slither_stream.serde.registry`): :class:`RegistryConfig`,
  :class:`RegistryClient`, :class:`RegistryAvroSerde`, :class:`RegistryJsonSchemaSerde`,
  :func:`subject_name`, :func:`check_schema` / :class:`Verdict`, and the errors
  :class:`RegistryError`, :class:`RegistryUnavailableError`, :class:`RegistryAuthError`,
  :class:`SchemaNotRegisteredError`, :class:`IncompatibleSchemaError`.
"""

from slither_stream.serde.avro_serde import AvroSerde
from slither_stream.serde.base import Serde, decode_record, decode_record_key
from slither_stream.serde.framing import MAGIC_BYTE, frame, unframe
from slither_stream.serde.json_schema import JsonSchemaSerde
from slither_stream.serde.json_serde import JsonSerde
from slither_stream.serde.lookup import (
    SCHEMAS_ENV,
    VALID_SPECS,
    default_registry,
    default_schema_dir,
    serde_for,
    uses_registry,
)
from slither_stream.serde.mismatch import Mismatch, find_mismatch
from slither_stream.serde.registry import (
    IncompatibleSchemaError,
    RegistryAuthError,
    RegistryAvroSerde,
    RegistryClient,
    RegistryConfig,
    RegistryError,
    RegistryJsonSchemaSerde,
    RegistryUnavailableError,
    SchemaNotRegisteredError,
    Verdict,
    check_schema,
    subject_name,
)
from slither_stream.serde.schemas import AvroSchema, SchemaRegistry, schema_id_for
from slither_stream.serde.simple import RawSerde, StringSerde

__all__ = [
    "MAGIC_BYTE",
    "SCHEMAS_ENV",
    "VALID_SPECS",
    "AvroSchema",
    "AvroSerde",
    "IncompatibleSchemaError",
    "JsonSchemaSerde",
    "JsonSerde",
    "Mismatch",
    "RawSerde",
    "RegistryAuthError",
    "RegistryAvroSerde",
    "RegistryClient",
    "RegistryConfig",
    "RegistryError",
    "RegistryJsonSchemaSerde",
    "RegistryUnavailableError",
    "SchemaNotRegisteredError",
    "SchemaRegistry",
    "Serde",
    "StringSerde",
    "Verdict",
    "check_schema",
    "decode_record",
    "decode_record_key",
    "default_registry",
    "default_schema_dir",
    "find_mismatch",
    "frame",
    "schema_id_for",
    "serde_for",
    "subject_name",
    "unframe",
    "uses_registry",
]
