"""Find where a value departs from an Avro schema, as a field path.

fastavro's validator answers "valid or not" fast, and its messages name the record
type and field (``slither.examples.Line.price``) but not *which* element of an array
or map is wrong. This walker runs only after a value has been found invalid and
returns the first offending path, in the form a user would write to reach it:
``amount``, ``lines[3].price``, ``tags['eu']``, or ``""`` for the top-level value.

Primitive, enum, fixed and logical-type leaves are checked with fastavro's own
validator, so the walker agrees with what fastavro accepts.
"""

from __future__ import annotations

import array
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from fastavro.validation import validate

from slither_stream.serde.base import describe_value

_MISSING = object()


@dataclass(frozen=True)
class Mismatch:
    """The first place where a value does not fit its schema."""

    path: str
    expected: str
    got: str

    def reason(self) -> str:
        """``field 'lines[1].price': expected double, got str 'x'``."""
        where = f"field '{self.path}'" if self.path else "value"
        return f"{where}: expected {self.expected}, got {self.got}"


def find_mismatch(
    parsed: Any, named: Mapping[str, Any], datum: Any, *, strict: bool = False
) -> Mismatch | None:
    """The first mismatch of ``datum`` against the parsed schema, or None if it fits.

    ``strict`` also reports record keys the schema does not declare (fastavro's
    ``strict`` writer refuses them; by default they are ignored).
    """
    return _Walker(named, strict).walk(parsed, datum, "")


def _child(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _type_name(schema: Any) -> str:
    """A short human name for a schema node (``double``, ``record a.B``, ...)."""
    if isinstance(schema, list):
        return "one of [" + ", ".join(_type_name(branch) for branch in schema) + "]"
    if not isinstance(schema, dict):
        return str(schema)
    kind = schema.get("type")
    if "logicalType" in schema:
        return f"{schema['logicalType']} ({_type_name(kind)})"
    if kind in ("record", "error"):
        return f"record {schema['name']}"
    if kind == "enum":
        symbols = schema.get("symbols", [])
        shown = ", ".join(symbols[:8]) + (", ..." if len(symbols) > 8 else "")
        return f"enum {schema['name']} symbol ({shown})"
    if kind == "fixed":
        return f"fixed {schema['name']} of {schema.get('size')} bytes"
    if kind == "array":
        return f"array of {_type_name(schema.get('items'))}"
    if kind == "map":
        return f"map of {_type_name(schema.get('values'))}"
    return _type_name(kind)


class _Walker:
    def __init__(self, named: Mapping[str, Any], strict: bool) -> None:
        self._named = named
        self._strict = strict

    def _resolve(self, schema: Any) -> Any:
        if isinstance(schema, str):
            return self._named.get(schema, schema)
        return schema

    def walk(self, schema: Any, datum: Any, path: str) -> Mismatch | None:
        schema = self._resolve(schema)
        if isinstance(schema, list):
            return self._union(schema, datum, path)
        if isinstance(schema, dict) and "logicalType" not in schema:
            kind = schema.get("type")
            if not isinstance(kind, str):
                return self.walk(kind, datum, path)
            if kind in ("record", "error"):
                return self._record(schema, datum, path)
            if kind == "array":
                return self._array(schema, datum, path)
            if kind == "map":
                return self._map(schema, datum, path)
        return self._leaf(schema, datum, path)

    def _leaf(self, schema: Any, datum: Any, path: str) -> Mismatch | None:
        try:
            ok = validate(datum, schema, raise_errors=False)
        except Exception:  # a logical-type writer refused the value outright
            ok = False
        if ok:
            return None
        return Mismatch(path, _type_name(schema), describe_value(datum))

    def _record(self, schema: dict[str, Any], datum: Any, path: str) -> Mismatch | None:
        if not isinstance(datum, Mapping):
            return Mismatch(path, _type_name(schema), describe_value(datum))
        if "-type" in datum and datum["-type"] != schema["name"]:
            return Mismatch(_child(path, "-type"), f"{schema['name']!r} (the record's name)",
                            describe_value(datum["-type"]))
        fields = schema.get("fields", [])
        for field in fields:
            name = field["name"]
            value = datum.get(name, _MISSING)
            if value is _MISSING:
                if "default" in field:
                    continue
                found = self.walk(field["type"], None, _child(path, name))
                if found is not None:
                    return Mismatch(found.path, found.expected, "no value (missing, no default)")
                continue
            found = self.walk(field["type"], value, _child(path, name))
            if found is not None:
                return found
        if self._strict:
            declared = {field["name"] for field in fields}
            for key, value in datum.items():
                if key not in declared:
                    return Mismatch(
                        _child(path, str(key)),
                        f"no such field (record {schema['name']} does not declare it)",
                        describe_value(value),
                    )
        return None

    def _array(self, schema: dict[str, Any], datum: Any, path: str) -> Mismatch | None:
        # fastavro's rule: any sequence but str (bytes are a sequence of ints)
        if not isinstance(datum, Sequence | array.array) or isinstance(datum, str):
            return Mismatch(path, _type_name(schema), describe_value(datum))
        items = schema.get("items")
        for index, item in enumerate(datum):
            found = self.walk(items, item, f"{path}[{index}]")
            if found is not None:
                return found
        return None

    def _map(self, schema: dict[str, Any], datum: Any, path: str) -> Mismatch | None:
        if not isinstance(datum, Mapping):
            return Mismatch(path, _type_name(schema), describe_value(datum))
        values = schema.get("values")
        for key, value in datum.items():
            where = f"{path}[{key!r}]"
            if not isinstance(key, str):
                return Mismatch(where, "a string map key", describe_value(key))
            found = self.walk(values, value, where)
            if found is not None:
                return found
        return None

    def _union(self, branches: list[Any], datum: Any, path: str) -> Mismatch | None:
        if isinstance(datum, tuple):  # fastavro's (type name, value) notation
            return self._tagged(branches, datum, path)
        if any(self.walk(branch, datum, path) is None for branch in branches):
            return None
        # Only one branch has the value's shape: report the mismatch inside it.
        shape = self._shape(datum)
        same_shape = [b for b in branches if shape and self._kind(b) in shape]
        if len(same_shape) == 1:
            return self.walk(same_shape[0], datum, path)
        return Mismatch(path, _type_name([self._resolve(b) for b in branches]),
                        describe_value(datum))

    def _tagged(self, branches: list[Any], datum: tuple[Any, ...], path: str) -> Mismatch | None:
        by_name: dict[str, Any] = {}
        for branch in branches:
            if isinstance(branch, str):
                by_name.setdefault(branch, branch)
            elif isinstance(branch, dict) and branch.get("type") in ("record", "error"):
                by_name.setdefault(str(branch["name"]), branch)
        if len(datum) == 2 and isinstance(datum[0], str) and datum[0] in by_name:
            return self.walk(by_name[datum[0]], datum[1], path)
        return Mismatch(path, f"a (type name, value) pair naming one of [{', '.join(by_name)}]",
                        describe_value(datum))

    def _kind(self, schema: Any) -> str | None:
        resolved = self._resolve(schema)
        if isinstance(resolved, dict) and "logicalType" not in resolved:
            kind = resolved.get("type")
            return kind if isinstance(kind, str) else None
        return None

    @staticmethod
    def _shape(datum: Any) -> tuple[str, ...]:
        if isinstance(datum, Mapping):
            return ("record", "error", "map")
        if isinstance(datum, Sequence | array.array) and not isinstance(datum, str):
            return ("array",)
        return ()
