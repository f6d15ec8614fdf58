"""Avro schemas parsed once, and a local registry that finds them by name or id.

Layout of a schema directory (``schemas/`` in the project):

- ``*.avsc`` at the top level are the **current** schemas, one per full name; they are
  what ``registry.get("slither.examples.Transaction")`` returns and what encoders
  write with.
- ``*.avsc`` in any subdirectory (by convention ``history/``) are **older versions**
  kept so that records written with them stay readable; they are found by id only.

Schema ids are **deterministic**: the top 31 bits of the schema's CRC-64-AVRO
fingerprint over its Parsing Canonical Form (the Avro spec's fingerprint). Every
process that loads the same files assigns the same ids with no shared state and no
ids file to keep in sync, and editing a schema changes its id, so a record can never
be decoded with a different layout than it was written with. Schemas that differ only
in docs, aliases or defaults share a canonical form, a binary layout and an id. A
clash between different layouts is refused at load time. Ids assigned elsewhere (a
Confluent Schema Registry) can be pinned with ``register(..., schema_id=N)``.

A registry is filled once at start-up and then only read, so it can be shared by
every thread without locking.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from fastavro.schema import (
    SchemaParseException,
    fingerprint,
    parse_schema,
    to_parsing_canonical_form,
)

from slither_stream.errors import ConfigError
from slither_stream.serde.framing import check_schema_id

_NAMED_TYPES = frozenset({"record", "error", "enum", "fixed"})


def schema_id_for(canonical_form: str) -> int:
    """The deterministic id of a schema: top 31 bits of its CRC-64-AVRO fingerprint."""
    return int(fingerprint(canonical_form, "CRC-64-AVRO"), 16) >> 33


@dataclass(frozen=True, eq=False)
class AvroSchema:
    """One parsed Avro schema with everything encoders and decoders need, computed once.

    ``parsed`` is fastavro's parsed form (pass it straight to fastavro); ``named``
    maps the full name of every named type inside it to its definition.
    """

    full_name: str
    parsed: Any
    named: dict[str, Any]
    canonical: str
    schema_id: int
    source: str | None = None
    raw: Any = field(default=None, repr=False)

    @property
    def is_named(self) -> bool:
        """Whether the top level is a record, enum or fixed (what a registry holds)."""
        return isinstance(self.parsed, dict) and self.parsed.get("type") in _NAMED_TYPES

    @classmethod
    def parse(
        cls, schema: Any, *, source: str | None = None, schema_id: int | None = None
    ) -> AvroSchema:
        """Parse a schema given as a dict/list, JSON text, or a primitive type name.

        Raises ConfigError naming ``source`` (a file path, or "schema") and the reason.
        """
        where = source or "schema"
        if isinstance(schema, bytes):
            schema = schema.decode("utf-8", errors="replace")
        if isinstance(schema, str) and schema.lstrip().startswith(("{", "[", '"')):
            try:
                schema = orjson.loads(schema)
            except orjson.JSONDecodeError as exc:
                raise ConfigError(f"{where} is not valid JSON: {exc}") from exc
        named: dict[str, Any] = {}
        try:
            parsed = parse_schema(schema, named_schemas=named)
            canonical = to_parsing_canonical_form(parsed)
        except (SchemaParseException, ValueError, TypeError, KeyError, AttributeError) as exc:
            raise ConfigError(f"{where} is not a valid Avro schema: {exc}") from exc
        if isinstance(parsed, dict) and parsed.get("type") in _NAMED_TYPES:
            full_name = str(parsed["name"])
        elif isinstance(parsed, dict):
            full_name = str(parsed["type"])
        elif isinstance(parsed, list):
            full_name = "union"
        else:
            full_name = str(parsed)
        chosen_id = schema_id_for(canonical) if schema_id is None else check_schema_id(
            schema_id)
        return cls(full_name=full_name, parsed=parsed, named=named, canonical=canonical,
                   schema_id=chosen_id, source=source, raw=schema)

    @classmethod
    def load(cls, path: str | Path) -> AvroSchema:
        """Parse one ``.avsc`` file; ConfigError names the file when it is unreadable."""
        file = Path(path)
        try:
            text = file.read_bytes()
        except OSError as exc:
            raise ConfigError(f"cannot read schema file {file}: {exc.strerror}") from exc
        try:
            document = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            raise ConfigError(f"schema file {file} is not valid JSON: {exc}") from exc
        return cls.parse(document, source=str(file))


class SchemaRegistry:
    """Current schemas by full name, every known version by id (see module docstring)."""

    def __init__(self) -> None:
        self._current: dict[str, AvroSchema] = {}
        self._by_id: dict[int, AvroSchema] = {}
        self.directory: Path | None = None
        """The directory the schemas were loaded from (None: registered in code); JSON
        Schemas (``json-schema:NAME``) are looked up there too."""

    @classmethod
    def load(cls, directory: str | Path) -> SchemaRegistry:
        """A registry of every ``.avsc`` under ``directory`` (top level = current)."""
        root = Path(directory)
        if not root.is_dir():
            raise ConfigError(f"schema directory {root} does not exist or is not a directory")
        registry = cls()
        registry.directory = root
        for file in sorted(root.glob("*.avsc")):
            registry.add(AvroSchema.load(file), current=True)
        for file in sorted(root.glob("*/**/*.avsc")):
            registry.add(AvroSchema.load(file), current=False)
        return registry

    def register(
        self, schema: Any, *, current: bool = True, schema_id: int | None = None
    ) -> AvroSchema:
        """Parse and add a schema given as a dict or JSON text; returns it."""
        return self.add(AvroSchema.parse(schema, schema_id=schema_id), current=current)

    def add(self, schema: AvroSchema, *, current: bool = True) -> AvroSchema:
        """Add a parsed schema; ``current`` also makes it the one found by name.

        Refused (ConfigError): a second current schema with the same full name, an
        unnamed top-level type, and an id already taken by a different layout.
        """
        origin = schema.source or "registered schema"
        if not schema.is_named:
            raise ConfigError(
                f"{origin}: a registry holds named types (record, enum, fixed), "
                f"got top-level {schema.full_name!r}"
            )
        taken = self._by_id.get(schema.schema_id)
        if taken is not None and taken.canonical != schema.canonical:
            raise ConfigError(
                f"schema id {schema.schema_id} of {schema.full_name} ({origin}) is already "
                f"taken by {taken.full_name} ({taken.source or 'registered schema'})"
            )
        if current:
            existing = self._current.get(schema.full_name)
            if existing is not None:
                raise ConfigError(
                    f"two current schemas are named {schema.full_name}: "
                    f"{existing.source or 'registered schema'} and {origin}; "
                    f"move older versions into a subdirectory such as history/"
                )
            self._current[schema.full_name] = schema
        if taken is None:
            self._by_id[schema.schema_id] = schema
        return schema

    def get(self, name: str) -> AvroSchema:
        """The current schema called ``name``: a full name, or an unambiguous short name.

        ConfigError lists the known names when there is no (single) match.
        """
        found = self._current.get(name)
        if found is not None:
            return found
        matches = [s for full, s in self._current.items() if full.rsplit(".", 1)[-1] == name]
        if len(matches) == 1:
            return matches[0]
        known = ", ".join(self.names()) or "none"
        if matches:
            raise ConfigError(f"schema name {name!r} is ambiguous; use a full name: {known}")
        raise ConfigError(f"unknown schema {name!r}; known schemas: {known}")

    def by_id(self, schema_id: int) -> AvroSchema | None:
        """The schema (current or older) with this id, or None."""
        return self._by_id.get(schema_id)

    def ids(self) -> Mapping[int, str]:
        """Every known id and the full name of its schema."""
        return {schema_id: s.full_name for schema_id, s in sorted(self._by_id.items())}

    def names(self) -> list[str]:
        """Full names of the current schemas, sorted."""
        return sorted(self._current)

    def __contains__(self, name: object) -> bool:
        return name in self._current

    def __iter__(self) -> Iterator[AvroSchema]:
        return iter([self._current[name] for name in self.names()])

    def __len__(self) -> int:
        return len(self._current)

    def __repr__(self) -> str:
        return f"SchemaRegistry({self.names()!r})"
