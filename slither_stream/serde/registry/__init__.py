"""Registry-backed serdes: schemas and ids from a Confluent-compatible schema registry.

Public API (re-exported by :mod:`slither_stream.serde`):

- :class:`RegistryConfig` -- where the registry is, credentials (never shown), TLS,
  the subject strategy and ``auto_register``; from code, the environment or a file.
- :class:`RegistryClient` -- confluent-kafka's ``SchemaRegistryClient`` with bounded
  retries and errors that name the registry, never a secret.
- :class:`RegistryAvroSerde`, :class:`RegistryJsonSchemaSerde` -- the Confluent wire
  format (magic byte 0, 4-byte registry id) for Avro and JSON Schema.
- :func:`subject_name` and :func:`check_schema` -- subjects by confluent-kafka's
  strategies, and the registry's compatibility verdict with the reason.
- The errors: :class:`RegistryError` and its kinds.
"""

from slither_stream.serde.registry.avro import RegistryAvroSerde
from slither_stream.serde.registry.client import RegistryClient
from slither_stream.serde.registry.compatibility import Verdict, check_schema
from slither_stream.serde.registry.config import (
    SUBJECT_STRATEGIES,
    RegistryConfig,
    SubjectStrategy,
    resolve_config,
)
from slither_stream.serde.registry.errors import (
    IncompatibleSchemaError,
    RegistryAuthError,
    RegistryError,
    RegistryUnavailableError,
    SchemaNotRegisteredError,
)
from slither_stream.serde.registry.json_schema import RegistryJsonSchemaSerde
from slither_stream.serde.registry.subjects import subject_name

__all__ = [
    "SUBJECT_STRATEGIES",
    "IncompatibleSchemaError",
    "RegistryAuthError",
    "RegistryAvroSerde",
    "RegistryClient",
    "RegistryConfig",
    "RegistryError",
    "RegistryJsonSchemaSerde",
    "RegistryUnavailableError",
    "SchemaNotRegisteredError",
    "SubjectStrategy",
    "Verdict",
    "check_schema",
    "resolve_config",
    "subject_name",
]
