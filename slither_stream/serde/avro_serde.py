"""Avro records through fastavro, optionally in Confluent wire framing.

Schemas are parsed once (:class:`AvroSchema`); each call is one fastavro
``schemaless_writer`` / ``schemaless_reader`` over an in-memory buffer.

Encoding validates the value first (on by default). fastavro's writer alone coerces
silently -- ``1.5`` into an ``int`` field is written as ``1``, ``"1"`` into a
``double`` as ``1.0``, ``2**40`` into an ``int`` as a long that Java readers reject
-- so an unvalidated encode can corrupt data without an error. The check is the
schema compiled once into closures (:mod:`~slither_stream.serde.checker`), cheaper
than fastavro's per-call validator; ``validate=False`` skips it for trusted
producers. An invalid value raises SerializationError naming the field path
(``lines[2].price``).

Decoding: with framing the 5-byte header names the writer schema's id, which is
looked up among this serde's own schema and the registry (older versions included),
and the body is resolved to this serde's schema (the reader schema) by Avro's
resolution rules. Without framing the writer schema is ``writer_schema`` (default:
the reader schema itself). Bytes left over after the value are an error: they mean the
data was written with another schema. Any failure is a SerializationError.

Decoding cannot bound memory for schemas whose elements take zero bytes (an array of
``null``): a hostile block count there makes the reader loop. Avoid such schemas on
topics fed by untrusted producers.
"""

from __future__ import annotations

import io
from typing import Any

from fastavro import schemaless_reader, schemaless_writer
from fastavro.read import SchemaResolutionError

from slither_stream.errors import SerializationError
from slither_stream.serde.checker import compile_check
from slither_stream.serde.framing import HEADER_SIZE, frame_header, parse_header
from slither_stream.serde.mismatch import find_mismatch
from slither_stream.serde.resolution import resolution_problem
from slither_stream.serde.schemas import AvroSchema, SchemaRegistry

_MAX_DETAIL = 200  # characters of a fastavro message kept in a reason


class AvroSerde:
    """Avro values of one schema <-> bytes (see the module docstring).

    ``schema`` is an :class:`AvroSchema` or anything :meth:`AvroSchema.parse` takes.
    ``framing=True`` (the default, what Kafka tooling expects) writes and requires the
    Confluent header. ``registry`` supplies writer schemas for ids other than this
    schema's own. ``strict`` refuses record keys the schema does not declare.
    """

    def __init__(
        self,
        schema: AvroSchema | Any,
        *,
        framing: bool = True,
        registry: SchemaRegistry | None = None,
        writer_schema: AvroSchema | Any | None = None,
        validate: bool = True,
        strict: bool = False,
    ) -> None:
        self.schema = schema if isinstance(schema, AvroSchema) else AvroSchema.parse(schema)
        if writer_schema is None:
            self.writer_schema = self.schema
        elif isinstance(writer_schema, AvroSchema):
            self.writer_schema = writer_schema
        else:
            self.writer_schema = AvroSchema.parse(writer_schema)
        self.framing = framing
        self.registry = registry
        self.validate = validate
        self.strict = strict
        self.name = f"avro:{self.schema.full_name}" if framing else (
            f"avro-bare:{self.schema.full_name}")
        self._parsed = self.schema.parsed
        self._check = compile_check(self._parsed, self.schema.named)
        self._header = frame_header(self.schema.schema_id) if framing else b""
        self._writers: dict[int, AvroSchema] = {
            self.writer_schema.schema_id: self.writer_schema,
            self.schema.schema_id: self.schema,
        }

    # -- encode ---------------------------------------------------------------------

    def encode(self, value: Any) -> bytes:
        if self.validate and not self._check(value):
            raise self._encode_error(value, None)
        buffer = io.BytesIO()
        buffer.write(self._header)
        try:
            schemaless_writer(buffer, self._parsed, value, strict=self.strict)
        except Exception as exc:  # fastavro raises many types; the reason is kept
            raise self._encode_error(value, exc) from exc
        return buffer.getvalue()

    def _encode_error(self, value: Any, cause: Exception | None) -> SerializationError:
        found = find_mismatch(self._parsed, self.schema.named, value, strict=self.strict)
        if found is not None:
            return SerializationError(
                found.reason(),
                serde=self.name, operation="encode", field=found.path,
            )
        reason = f"value does not match schema {self.schema.full_name}"
        if cause is not None:
            reason += f" ({type(cause).__name__}: {cause})"
        return SerializationError(reason, serde=self.name, operation="encode")

    # -- decode ---------------------------------------------------------------------

    def decode(self, data: bytes) -> Any:
        try:
            if self.framing:
                writer = self._writer_for(parse_header(data))
                stream = io.BytesIO(data)
                stream.seek(HEADER_SIZE)
            else:
                writer = self.writer_schema
                stream = io.BytesIO(data)
        except SerializationError as exc:
            raise SerializationError(exc.reason, serde=self.name) from exc
        except TypeError as exc:
            raise SerializationError(
                f"expected bytes, got {type(data).__name__}", serde=self.name
            ) from exc
        reader = None if writer is self.schema else self._parsed
        try:
            value = schemaless_reader(stream, writer.parsed, reader)
        except Exception as exc:  # untrusted bytes: every failure becomes our error
            reason = self._decode_reason(writer, exc)
            problem = (resolution_problem(writer, self.schema)
                       if isinstance(exc, SchemaResolutionError) else None)
            if problem is not None:  # name the field that breaks resolution
                path, detail = problem
                reason += f": {f'field {path!r}' if path else 'value'}: {detail}"
            raise SerializationError(reason, serde=self.name,
                                     field=problem[0] or None if problem else None) from exc
        left = len(data) - stream.tell()
        if left:
            raise SerializationError(
                f"{left} bytes left after the Avro value: not written with "
                f"{self._describe(writer)}",
                serde=self.name,
            )
        return value

    def _decode_reason(self, writer: AvroSchema, exc: Exception) -> str:
        if isinstance(exc, SchemaResolutionError):
            # fastavro's message prints both whole schemas; the names say enough.
            return (f"{self._describe(writer)} is not compatible: records of the writer "
                    f"schema cannot be resolved to the reader schema")
        text = str(exc)
        if len(text) > _MAX_DETAIL:
            text = text[: _MAX_DETAIL - 3] + "..."
        detail = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
        if isinstance(exc, EOFError):
            detail = f"truncated data ({detail})"
        return f"invalid Avro body for {self._describe(writer)}: {detail}"

    def _writer_for(self, schema_id: int) -> AvroSchema:
        known = self._writers.get(schema_id)
        if known is not None:
            return known
        if self.registry is not None:
            found = self.registry.by_id(schema_id)
            if found is not None:
                return found
        ids = sorted(self._writers)
        if self.registry is not None:
            ids = sorted(set(ids) | set(self.registry.ids()))
        shown = ", ".join(str(i) for i in ids[:10]) + (", ..." if len(ids) > 10 else "")
        raise SerializationError(f"unknown schema id {schema_id} (known ids: {shown})")

    def _describe(self, writer: AvroSchema) -> str:
        if writer is self.schema:
            return f"schema {writer.full_name} (id {writer.schema_id})"
        return (f"writer schema {writer.full_name} (id {writer.schema_id}) "
                f"read as {self.schema.full_name}")

    def __repr__(self) -> str:
        return f"AvroSerde({self.schema.full_name!r}, framing={self.framing})"
