"""A schema compiled into a validity check, so validating before encode stays cheap.

fastavro's ``validate`` re-dispatches on the schema for every value. Here the schema
is walked once into nested closures (one per node, named types shared, recursive
types allowed), and each encode runs only ``isinstance`` checks with fast paths for
the exact builtin types. It answers the same question as fastavro's validator --
tests/serde/test_checker.py holds the two to agreement on generated values -- and
only answers yes or no; :mod:`slither_stream.serde.mismatch` explains a no.

Rules mirrored from fastavro: ``int``/``long`` take integral numbers in range but not
``bool``; ``float``/``double`` take any real number but not ``bool``; a missing record
field takes its default, else ``None``; a ``-type`` key must name the record; a union
takes ``(type name, value)`` tuple notation; logical types are converted by
fastavro's own logical writers before the base type is checked.
"""

from __future__ import annotations

import array
import numbers
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from fastavro.const import INT_MAX_VALUE, INT_MIN_VALUE, LONG_MAX_VALUE, LONG_MIN_VALUE
from fastavro.logical_writers import LOGICAL_WRITERS

Check = Callable[[Any], bool]
_NO_VALUE = object()


def _integral(low: int, high: int) -> Check:
    def check(datum: Any) -> bool:
        kind = type(datum)
        if kind is int:
            return bool(low <= datum <= high)
        if kind is bool or not isinstance(datum, numbers.Integral):
            return False
        return low <= int(datum) <= high

    return check


def _real(datum: Any) -> bool:
    kind = type(datum)
    if kind is float or kind is int:
        return True
    return isinstance(datum, numbers.Real) and kind is not bool


def _enum(symbols: frozenset[str]) -> Check:
    return lambda datum: isinstance(datum, str) and datum in symbols


def _fixed(size: int) -> Check:
    return lambda datum: isinstance(datum, bytes | bytearray) and len(datum) == size


_PRIMITIVES: dict[str, Check] = {
    "null": lambda datum: datum is None,
    "boolean": lambda datum: isinstance(datum, bool),
    "string": lambda datum: isinstance(datum, str),
    "bytes": lambda datum: isinstance(datum, bytes | bytearray),
    "int": _integral(INT_MIN_VALUE, INT_MAX_VALUE),
    "long": _integral(LONG_MIN_VALUE, LONG_MAX_VALUE),
    "float": _real,
    "double": _real,
}


def compile_check(parsed: Any, named: Mapping[str, Any]) -> Check:
    """A function telling whether a value can be written with the parsed schema."""
    return _Compiler(named).compile(parsed)


class _Compiler:
    def __init__(self, named: Mapping[str, Any]) -> None:
        self._named = named
        self._compiled: dict[str, Check] = {}

    def compile(self, schema: Any) -> Check:
        if isinstance(schema, str):
            primitive = _PRIMITIVES.get(schema)
            if primitive is not None:
                return primitive
            return self._named_type(schema)
        if isinstance(schema, list):
            return self._union(schema)
        kind = schema.get("type")
        if "logicalType" in schema:
            return self._logical(schema)
        if not isinstance(kind, str):
            return self.compile(kind)
        if kind in ("record", "error", "enum", "fixed"):
            return self._named_type(str(schema["name"]), schema)
        if kind == "array":
            return self._array(self.compile(schema["items"]))
        if kind == "map":
            return self._map(self.compile(schema["values"]))
        return self.compile(kind)

    def _named_type(self, name: str, definition: Any = None) -> Check:
        done = self._compiled.get(name)
        if done is not None:
            return done
        if definition is None:
            if name not in self._named:
                raise ValueError(f"unknown Avro type {name!r}")
            definition = self._named[name]
        # Recursive types reach themselves through this cell while being compiled.
        cell: list[Check] = []

        def forward(datum: Any) -> bool:
            return cell[0](datum)

        self._compiled[name] = forward
        kind = definition["type"]
        if kind == "enum":
            compiled = _enum(frozenset(definition["symbols"]))
        elif kind == "fixed":
            compiled = _fixed(int(definition["size"]))
        else:
            compiled = self._record(name, definition)
        cell.append(compiled)
        self._compiled[name] = compiled
        return compiled

    def _record(self, name: str, definition: Mapping[str, Any]) -> Check:
        fields = [
            (field["name"], field.get("default", _NO_VALUE), self.compile(field["type"]))
            for field in definition.get("fields", [])
        ]

        def check(datum: Any) -> bool:
            if type(datum) is not dict and not isinstance(datum, Mapping):
                return False
            if "-type" in datum and datum["-type"] != name:
                return False
            for field_name, default, field_check in fields:
                value = datum.get(field_name, default)
                if value is _NO_VALUE:
                    value = None
                if not field_check(value):
                    return False
            return True

        return check

    @staticmethod
    def _array(item_check: Check) -> Check:
        def check(datum: Any) -> bool:
            if type(datum) is not list and (
                    not isinstance(datum, Sequence | array.array) or isinstance(datum, str)):
                return False
            return all(item_check(item) for item in datum)

        return check

    @staticmethod
    def _map(value_check: Check) -> Check:
        def check(datum: Any) -> bool:
            if type(datum) is not dict and not isinstance(datum, Mapping):
                return False
            return all(isinstance(key, str) for key in datum) and all(
                value_check(value) for value in datum.values())

        return check

    def _union(self, branches: list[Any]) -> Check:
        checks = [self.compile(branch) for branch in branches]
        by_name: dict[str, Check] = {}
        for branch, branch_check in zip(branches, checks, strict=True):
            if isinstance(branch, str):
                by_name.setdefault(branch, branch_check)
            elif isinstance(branch, dict) and branch.get("type") in ("record", "error"):
                by_name.setdefault(str(branch["name"]), branch_check)

        def check(datum: Any) -> bool:
            if isinstance(datum, tuple):  # fastavro's (type name, value) notation
                if len(datum) != 2:
                    return False
                name, value = datum
                chosen = by_name.get(name) if isinstance(name, str) else None
                return chosen is not None and chosen(value)
            return any(branch_check(datum) for branch_check in checks)

        return check

    def _logical(self, schema: dict[str, Any]) -> Check:
        base = {key: value for key, value in schema.items() if key != "logicalType"}
        base_check = self.compile(base if len(base) > 1 else base["type"])
        base_type = schema["type"] if isinstance(schema["type"], str) else "?"
        if base_type in self._named:
            base_type = str(self._named[base_type]["type"])
        prepare = LOGICAL_WRITERS.get(f"{base_type}-{schema['logicalType']}")
        if prepare is None:  # unknown logical types are written as their base type
            return base_check

        def check(datum: Any) -> bool:
            try:
                return base_check(prepare(datum, schema))
            except Exception:  # the logical writer refused the value
                return False

        return check
