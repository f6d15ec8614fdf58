"""JSON Schema in the Confluent wire format: magic byte, registry id, UTF-8 JSON.

:class:`RegistryJsonSchemaSerde` checks each value against the pipe's JSON Schema
(as :class:`~slither_stream.serde.JsonSchemaSerde`) and frames it with the schema's id
under its subject, looked up like the Avro serde's (``auto_register`` off by
default). Decoding needs no writer schema to read JSON, but still checks that the id
is a JSON Schema the registry has (fetched once per id), so a record from another
topic or written without a registry is dead-lettered with the reason, as for Avro.
This is the layout confluent-kafka's ``JSONSerializer`` writes and its
``JSONDeserializer`` reads.
"""

from __future__ import annotations

import threading
from typing import Any

import orjson
from confluent_kafka.schema_registry import Schema

from slither_stream.errors import SerializationError
from slither_stream.serde.framing import HEADER_SIZE, frame_header, parse_header
from slither_stream.serde.json_schema import JsonSchemaSerde
from slither_stream.serde.registry.client import RegistryClient
from slither_stream.serde.registry.config import SubjectStrategy
from slither_stream.serde.registry.errors import SchemaNotRegisteredError
from slither_stream.serde.registry.subjects import subject_name


class RegistryJsonSchemaSerde(JsonSchemaSerde):
    """JSON values checked against ``schema`` and framed with its registry id.

    ``record`` and ``topic_record`` strategies name the subject from the schema's
    ``title``.
    """

    def __init__(
        self,
        schema: dict[str, Any],
        client: RegistryClient,
        *,
        topic: str | None = None,
        subject_strategy: SubjectStrategy | None = None,
        auto_register: bool | None = None,
        is_key: bool = False,
        title: str | None = None,
        validate_decode: bool = False,
    ) -> None:
        super().__init__(schema, title=title, validate_decode=validate_decode)
        self.client = client
        self.topic = topic
        strategy = subject_strategy or client.config.subject_strategy
        self.subject = subject_name(strategy, topic, schema.get("title") or title,
                                    is_key=is_key)
        self.auto_register = (client.config.auto_register if auto_register is None
                              else auto_register)
        self.schema_id: int | None = None
        self._header = b""
        self._known: set[int] = set()
        self._lock = threading.Lock()

    def registry_schema(self) -> Schema:
        """The schema as the registry stores it (type JSON)."""
        return Schema(orjson.dumps(self.schema).decode(), "JSON")

    def prepare_write(self) -> int:
        """Look up (or register, with ``auto_register``) the schema; its id."""
        if self.schema_id is not None:
            return self.schema_id
        with self._lock:
            if self.schema_id is None:
                self.client.ensure_reachable()
                found = self.client.lookup(self.subject, self.registry_schema())
                if found is not None:
                    schema_id = found.schema_id
                elif self.auto_register:
                    schema_id = self.client.register(self.subject, self.registry_schema())
                else:
                    raise SchemaNotRegisteredError(
                        f"{self.client.config}: JSON Schema {self.title} is not registered "
                        f"under subject {self.subject!r} and auto_register is off",
                        url=self.client.url, subject=self.subject)
                assert schema_id is not None
                self._header = frame_header(schema_id)
                self._known.add(schema_id)
                self.schema_id = schema_id
        return self.schema_id

    def encode(self, value: Any) -> bytes:
        if self.schema_id is None:
            self.prepare_write()
        return self._header + super().encode_transient(value)

    def encode_transient(self, value: Any) -> bytes:
        return self.encode(value)

    def decode(self, data: bytes) -> Any:
        try:
            schema_id = parse_header(data)
        except SerializationError as error:
            raise SerializationError(error.reason, serde=self.name) from error
        except TypeError as error:
            raise SerializationError(f"expected bytes, got {type(data).__name__}",
                                     serde=self.name) from error
        if schema_id not in self._known:
            self._learn(schema_id)
        return super().decode(memoryview(data)[HEADER_SIZE:])  # type: ignore[arg-type]

    def _learn(self, schema_id: int) -> None:
        found = self.client.schema_by_id(schema_id)
        if found is None:
            raise SerializationError(f"unknown schema id {schema_id}: {self.client.config} "
                                     f"has no schema with that id", serde=self.name)
        if (found.schema_type or "AVRO").upper() != "JSON":
            raise SerializationError(f"schema id {schema_id} is a "
                                     f"{found.schema_type or 'AVRO'} schema, not JSON Schema",
                                     serde=self.name)
        self._known.add(schema_id)

    def __repr__(self) -> str:
        return (f"RegistryJsonSchemaSerde({self.title!r}, subject={self.subject!r}, "
                f"registry={self.client.url!r})")
