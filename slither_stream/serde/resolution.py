"""Why a writer schema cannot be read as a reader schema, as a field path.

fastavro's ``SchemaResolutionError`` prints both whole schemas and no field, so a
record written with an incompatible schema (a wrong schema id on a topic, an old
version whose field changed type) gave an error that said *that* it failed, not
*where*. :func:`resolution_problem` walks both schemas by Avro's resolution rules
and returns the first field that breaks them, with a one-line reason. It runs only
after fastavro has refused a pair, never per record.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from slither_stream.serde.schemas import AvroSchema

_PROMOTIONS: dict[str, frozenset[str]] = {
    "int": frozenset({"long", "float", "double"}),
    "long": frozenset({"float", "double"}),
    "float": frozenset({"double"}),
    "string": frozenset({"bytes"}),
    "bytes": frozenset({"string"}),
}

Problem = tuple[str, str]
"""``(field path, reason)``; the path is ``""`` for the top-level value."""


def resolution_problem(writer: AvroSchema, reader: AvroSchema) -> Problem | None:
    """The first place where data of ``writer`` cannot be read as ``reader``, or None."""
    return _Walk(writer.named, reader.named).check(writer.parsed, reader.parsed, "")


def _child(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


class _Walk:
    def __init__(self, writer_named: Mapping[str, Any], reader_named: Mapping[str, Any]) -> None:
        self.writer_named = writer_named
        self.reader_named = reader_named
        self.seen: set[tuple[str, str]] = set()  # recursive named types, checked once

    def check(self, writer: Any, reader: Any, path: str) -> Problem | None:
        writer = _deref(writer, self.writer_named)
        reader = _deref(reader, self.reader_named)
        if isinstance(writer, list):
            for branch in writer:  # every branch the writer may have used must resolve
                found = self.check(branch, reader, path)
                if found is not None:
                    return found
            return None
        if isinstance(reader, list):
            if self._fits_union(writer, reader, path):
                return None
            return (path, f"writer type {_name(writer)} matches no branch of {_name(reader)}")
        writer_type, reader_type = _type(writer), _type(reader)
        if writer_type != reader_type:
            if reader_type in _PROMOTIONS.get(writer_type, frozenset()):
                return None
            return (path, f"writer type {_name(writer)} cannot be read as {_name(reader)}")
        if writer_type == "record":
            return self._record(writer, reader, path)
        if writer_type in ("enum", "fixed") and _short(writer["name"]) != _short(reader["name"]):
            return (path, f"writer {writer_type} {writer['name']} is not {reader['name']}")
        if writer_type == "enum":
            extra = [s for s in writer["symbols"] if s not in reader["symbols"]]
            if extra and "default" not in reader:
                return (path, f"writer symbol {extra[0]!r} is not in enum {reader['name']}")
        if writer_type == "fixed" and writer.get("size") != reader.get("size"):
            return (path, f"fixed size {writer.get('size')} cannot be read as "
                          f"size {reader.get('size')}")
        if writer_type == "array":
            return self.check(writer["items"], reader["items"], f"{path}[]")
        if writer_type == "map":
            return self.check(writer["values"], reader["values"], f"{path}[*]")
        return None

    def _fits_union(self, writer: Any, reader: list[Any], path: str) -> bool:
        return any(self.check(writer, branch, path) is None for branch in reader)

    def _record(self, writer: Any, reader: Any, path: str) -> Problem | None:
        if _short(writer["name"]) != _short(reader["name"]) and \
                _short(writer["name"]) not in {_short(a) for a in reader.get("aliases", ())}:
            return (path, f"writer record {writer['name']} is not reader record "
                          f"{reader['name']}")
        pair = (writer["name"], reader["name"])
        if pair in self.seen:
            return None
        self.seen.add(pair)
        written = {field["name"]: field for field in writer["fields"]}
        for field in reader["fields"]:
            names = [field["name"], *field.get("aliases", ())]
            source = next((written[n] for n in names if n in written), None)
            where = _child(path, field["name"])
            if source is None:
                if "default" not in field:
                    return (where, "missing from the writer schema and has no default")
                continue
            found = self.check(source["type"], field["type"], where)
            if found is not None:
                return found
        return None


def _deref(schema: Any, named: Mapping[str, Any]) -> Any:
    if isinstance(schema, str) and schema in named:
        return named[schema]
    if isinstance(schema, dict) and isinstance(schema.get("type"), (dict, list)):
        return schema["type"]
    if isinstance(schema, dict) and isinstance(schema.get("type"), str) \
            and schema["type"] in named:
        return named[schema["type"]]
    return schema


def _type(schema: Any) -> str:
    if isinstance(schema, dict):
        return str(schema.get("type"))
    return str(schema)


def _name(schema: Any) -> str:
    if isinstance(schema, list):
        return "[" + ", ".join(_name(branch) for branch in schema) + "]"
    if isinstance(schema, dict):
        kind = _type(schema)
        return f"{kind} {schema['name']}" if "name" in schema else kind
    return str(schema)


def _short(full_name: str) -> str:
    """Avro matches record names without their namespace when resolving."""
    return full_name.rsplit(".", 1)[-1]
