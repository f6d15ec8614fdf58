"""JSON through orjson: the default payload format, on every record's hot path.

Encoding is one ``orjson.dumps`` call; decoding is one ``orjson.loads`` straight from
the record's bytes (no intermediate ``str``). Only the error path does extra work: it
turns orjson's message into a reason a user can act on (invalid UTF-8, truncated
document, trailing data, ...), keeping orjson's position.

What JSON cannot say is worth knowing: integers must fit in 64 bits (larger ones are
an encode error), dict keys must be strings unless ``non_str_keys=True``, and
non-finite floats (NaN, infinity) are written as ``null`` by orjson. Numpy arrays and
scalars are serialized natively (compute stages often return them).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from slither_stream.errors import SerializationError

# orjson message fragment -> the reason we report (checked in order).
_DECODE_REASONS: tuple[tuple[str, str], ...] = (
    ("not valid UTF-8", "invalid UTF-8"),
    ("unexpected end of data", "truncated JSON"),
    ("EOF while parsing", "truncated JSON"),
    ("zero-length", "empty document"),
    ("unexpected content after document", "trailing data after the JSON document"),
    ("recursion limit", "nested too deeply"),
    ("depth limit", "nested too deeply"),
)


_COPY_BELOW = 2048
"""Documents shorter than this are copied out of orjson's 4 KB output buffer."""


def _decode_reason(exc: orjson.JSONDecodeError) -> str:
    """Name what was wrong with the document, keeping orjson's own detail."""
    detail = str(exc)
    for fragment, reason in _DECODE_REASONS:
        if fragment in detail:
            return f"{reason} ({detail})"
    return f"invalid JSON ({detail})"


class JsonSerde:
    """Any JSON value <-> UTF-8 JSON bytes.

    ``sort_keys`` makes output byte-stable (useful for keys and compacted topics);
    ``non_str_keys`` allows int/float/bool/None dict keys (written as strings);
    ``default`` converts otherwise unsupported objects, as in ``orjson.dumps``.
    """

    name = "json"

    def __init__(
        self,
        *,
        sort_keys: bool = False,
        non_str_keys: bool = False,
        default: Callable[[Any], Any] | None = None,
    ) -> None:
        option = orjson.OPT_SERIALIZE_NUMPY
        if sort_keys:
            option |= orjson.OPT_SORT_KEYS
        if non_str_keys:
            option |= orjson.OPT_NON_STR_KEYS
        self._option = option
        self._default = default

    def encode(self, value: Any) -> bytes:
        # orjson returns a small document inside a 4 KB allocation. Encoded values
        # that are kept a while (a store's bulk write holds a batch of them) would
        # each hold a 4 KB block and its page faults; an exact-size copy is cheaper.
        data = self.encode_transient(value)
        return bytes(memoryview(data)) if len(data) < _COPY_BELOW else data

    def encode_transient(self, value: Any) -> bytes:
        """:meth:`encode` for a value that is handed on at once and not kept (a
        stage's write, produced as soon as it is planned): orjson's own buffer,
        without the exact-size copy, which costs more than it saves there."""
        try:
            return orjson.dumps(value, self._default, self._option)  # positional: faster
        except orjson.JSONEncodeError as exc:
            raise SerializationError(
                f"not representable as JSON: {exc}", serde=self.name, operation="encode"
            ) from exc

    def decode(self, data: bytes) -> Any:
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            if not isinstance(data, bytes | bytearray | memoryview | str):
                reason = f"expected bytes, got {type(data).__name__}"
            else:
                reason = _decode_reason(exc)
            raise SerializationError(reason, serde=self.name) from exc

    def __repr__(self) -> str:
        return "JsonSerde()"
