"""Avro in the Confluent wire format with registry-assigned schema ids.

:class:`RegistryAvroSerde` is the local-schema :class:`~slither_stream.serde.AvroSerde`
with one difference: schema ids come from the registry instead of the schema's CRC-64
fingerprint. The pipe's schema is the **reader** (and writer) schema; the **writer**
schema of each record is the registry's schema with the id in the record's header,
fetched once per id and kept, so the per-record path is the same fastavro call as in
local mode (``bench/serde_throughput.py`` measures both side by side).

- **Encode** writes ``0x00``, the pipe schema's id under its subject (looked up once,
  at start for a pipe's outputs; registered first only with ``auto_register``), then
  the Avro body. A schema that is not a version of its subject is an error at start
  (:class:`SchemaNotRegisteredError`, or :class:`IncompatibleSchemaError` naming the
  subject, its latest version and the field that breaks compatibility).
- **Decode** reads the id, takes the writer schema from its cache or the registry,
  and resolves the record to the pipe's schema by Avro's rules. Bad input -- no magic
  byte, an id the registry does not have, a body that does not match its schema -- is
  a :class:`~slither_stream.errors.SerializationError` (so a stage dead-letters it
  with the reason). A registry that does not answer is not bad input: decoding
  retries with backoff (``outage_timeout``) and then raises
  :class:`RegistryUnavailableError`, which stops the stage without committing, so
  the record is read again once the registry is back.

Records stock Confluent serializers write are read here, and the other way round:
that is the wire format, tested against confluent-kafka's AvroSerializer and
AvroDeserializer on a real registry and broker.
"""

from __future__ import annotations

import threading
from types import MethodType
from typing import Any

from slither_stream.errors import ConfigError, SerializationError
from slither_stream.serde.avro_serde import AvroSerde
from slither_stream.serde.framing import frame_header
from slither_stream.serde.registry.client import RegistryClient, avro_schema
from slither_stream.serde.registry.compatibility import check_schema, refuse
from slither_stream.serde.registry.config import SubjectStrategy
from slither_stream.serde.registry.errors import SchemaNotRegisteredError
from slither_stream.serde.registry.subjects import subject_name
from slither_stream.serde.schemas import AvroSchema


class RegistryAvroSerde(AvroSerde):
    """Avro values of one schema, framed with registry ids (see the module docstring).

    ``schema`` is the pipe's schema (an :class:`AvroSchema` or anything
    :meth:`AvroSchema.parse` takes); ``topic`` names the subject with the ``topic``
    and ``topic_record`` strategies. ``subject_strategy`` and ``auto_register``
    default to the client's config.
    """

    def __init__(
        self,
        schema: AvroSchema | Any,
        client: RegistryClient,
        *,
        topic: str | None = None,
        subject_strategy: SubjectStrategy | None = None,
        auto_register: bool | None = None,
        is_key: bool = False,
        validate: bool = True,
        strict: bool = False,
    ) -> None:
        super().__init__(schema, framing=True, validate=validate, strict=strict)
        self.client = client
        self.topic = topic
        strategy = subject_strategy or client.config.subject_strategy
        self.subject = subject_name(strategy, topic, self.schema.full_name, is_key=is_key)
        self.auto_register = (client.config.auto_register if auto_register is None
                              else auto_register)
        self.schema_id: int | None = None
        """The pipe schema's registry id, once looked up (:meth:`prepare_write`)."""
        # The local CRC-64 ids mean nothing here: only registry ids are known.
        self._writers = {}
        self._lock = threading.Lock()

    # -- encode ---------------------------------------------------------------------

    def prepare_write(self) -> int:
        """Look up (or, with ``auto_register``, register) the pipe's schema under its
        subject; its id. Called at start for outputs, else by the first encode.

        Raises SchemaNotRegisteredError or IncompatibleSchemaError naming the subject,
        RegistryUnavailableError after ``connect_timeout``.
        """
        if self.schema_id is not None:
            return self.schema_id
        with self._lock:
            if self.schema_id is None:
                self.client.ensure_reachable()
                verdict = check_schema(self.client, self.subject, self.schema)
                if verdict.registered_id is not None:
                    schema_id = verdict.registered_id
                elif not verdict.compatible:
                    raise refuse(self.client, verdict)
                elif self.auto_register:
                    schema_id = self.client.register(self.subject, self._registry_schema())
                else:
                    raise self._not_registered(verdict.version)
                self._header = frame_header(schema_id)
                self._writers[schema_id] = self.schema
                self.schema_id = schema_id
                # From now on encode is AvroSerde.encode itself: the cache-hit path
                # has no extra call in front of the local serde's.
                self.encode = MethodType(AvroSerde.encode, self)  # type: ignore[method-assign]
        return self.schema_id

    def encode(self, value: Any) -> bytes:
        """Encode ``value`` (looking the schema's id up first, on the first call)."""
        self.prepare_write()
        return AvroSerde.encode(self, value)

    def _registry_schema(self) -> Any:
        return avro_schema(self.schema.raw if self.schema.raw is not None
                           else self.schema.canonical)

    def _not_registered(self, latest: int | None) -> SchemaNotRegisteredError:
        has = (f"its latest version is {latest}" if latest is not None
               else "the subject does not exist")
        return SchemaNotRegisteredError(
            f"{self.client.config}: schema {self.schema.full_name} is not registered under "
            f"subject {self.subject!r} ({has}) and auto_register is off; register it "
            f"(slither schemas register) or set auto_register", url=self.client.url,
            subject=self.subject)

    # -- decode ---------------------------------------------------------------------

    def _writer_for(self, schema_id: int) -> AvroSchema:
        known = self._writers.get(schema_id)
        if known is not None:
            return known
        with self._lock:
            known = self._writers.get(schema_id)
            if known is None:
                known = self._writers[schema_id] = self._fetch_writer(schema_id)
        return known

    def _fetch_writer(self, schema_id: int) -> AvroSchema:
        """The writer schema of ``schema_id`` from the registry (RegistryUnavailableError
        propagates: an unreachable registry is not bad input)."""
        found = self.client.schema_by_id(schema_id)
        if found is None:
            raise SerializationError(
                f"unknown schema id {schema_id}: {self.client.config} has no schema with "
                f"that id")
        if (found.schema_type or "AVRO").upper() != "AVRO" or found.schema_str is None:
            raise SerializationError(
                f"schema id {schema_id} is a {found.schema_type} schema, not Avro")
        if found.references:
            raise SerializationError(
                f"schema id {schema_id} references other schemas, which this serde "
                f"does not resolve")
        try:
            writer = AvroSchema.parse(found.schema_str, schema_id=schema_id,
                                      source=f"registry schema id {schema_id}")
        except ConfigError as error:
            raise SerializationError(str(error)) from error
        # The pipe's own schema under another id: read it without resolution.
        return self.schema if writer.canonical == self.schema.canonical else writer

    def _describe(self, writer: AvroSchema) -> str:
        if writer is self.schema:
            return f"schema {writer.full_name} ({self.describe_ids()})"
        return (f"writer schema {writer.full_name} (registry id {writer.schema_id}) "
                f"read as {self.schema.full_name}")

    def describe_ids(self) -> str:
        """``id N under SUBJECT`` (or ``SUBJECT, not looked up yet``), for messages."""
        if self.schema_id is None:
            return f"subject {self.subject}, not looked up yet"
        return f"id {self.schema_id} under subject {self.subject}"

    def __repr__(self) -> str:
        return (f"RegistryAvroSerde({self.schema.full_name!r}, subject={self.subject!r}, "
                f"registry={self.client.url!r})")
