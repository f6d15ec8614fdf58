"""Declarations a store makes: its tables and its views.

Both are validated when constructed, so a bad declaration fails at import/start time
with a message naming the field, not later on the first write.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from slither_stream.errors import ConfigError
from slither_stream.store.keys import KeyCodec, key_codec_for
from slither_stream.store.values import ValueCodec, value_codec_for

TableType = Literal["set", "ordered_set"]
ViewMode = Literal["scalar", "batch"]
ViewScope = Literal["session", "global"]
Compression = Literal["none", "lz4", "zstd", "snappy", "zlib"]

_NAME = re.compile(r"^[A-Za-z0-9_-]{1,100}$")
_APP_NAME = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]{0,99}$")
_COMPRESSIONS = ("none", "lz4", "zstd", "snappy", "zlib")


def check_name(kind: str, name: str) -> str:
    """Names end up in topic names and directories: letters, digits, ``_`` and ``-``
    (an app name may also contain dots, but not start with one)."""
    pattern, allowed = (_APP_NAME, "letters, digits, '_', '-' or '.'") if kind == "app" \
        else (_NAME, "letters, digits, '_' or '-'")
    if not isinstance(name, str) or not pattern.match(name):
        raise ConfigError(
            f"bad {kind} name {name!r}: use 1-100 {allowed} "
            "(it becomes part of the changelog topic name and a directory name)"
        )
    return name


@dataclass(frozen=True)
class TableSpec:
    """One table of a store.

    ``type``: ``set`` (any key order) or ``ordered_set`` (iteration and ``select``
    ranges follow key order; needs an order-preserving key codec).
    ``key``: key codec name (``tuple`` default, ``string``, ``bytes``, ``json``) or a
    :class:`~slither_stream.store.keys.KeyCodec`.
    ``value``: value serde name (``json`` default) or an object with encode/decode.
    ``partitions``: partitions of the changelog topic (1 keeps one total order).
    """

    name: str
    type: TableType = "set"
    key: str | KeyCodec = "tuple"
    value: str | ValueCodec = "json"
    compression: Compression = "lz4"
    partitions: int = 1
    key_codec: KeyCodec = field(init=False, repr=False, compare=False)
    value_codec: ValueCodec = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        check_name("table", self.name)
        if self.type not in ("set", "ordered_set"):
            raise ConfigError(
                f"table {self.name!r}: type must be 'set' or 'ordered_set', not {self.type!r}"
            )
        if self.compression not in _COMPRESSIONS:
            raise ConfigError(
                f"table {self.name!r}: compression must be one of {', '.join(_COMPRESSIONS)}, "
                f"not {self.compression!r}"
            )
        if not isinstance(self.partitions, int) or self.partitions < 1:
            raise ConfigError(
                f"table {self.name!r}: partitions must be a positive int, not {self.partitions!r}"
            )
        key_codec = key_codec_for(self.key)
        if self.type == "ordered_set" and not key_codec.order_preserving:
            raise ConfigError(
                f"table {self.name!r}: an ordered_set needs an order-preserving key codec "
                f"(tuple, string or bytes), not {key_codec.name!r}"
            )
        object.__setattr__(self, "key_codec", key_codec)
        object.__setattr__(self, "value_codec", value_codec_for(self.value))

    @property
    def ordered(self) -> bool:
        return self.type == "ordered_set"


@dataclass(frozen=True)
class ViewSpec:
    """A named lookup compute code calls through its context.

    ``handler`` is called with the keyword arguments given to ``ctx.view(name, ...)``.
    A ``batch`` view is called as ``handler(keys=[...])`` and must return a list of the
    same length (checked). ``timeout`` (seconds) bounds how long the caller waits;
    None calls the handler inline on the caller's thread.
    """

    name: str
    handler: Callable[..., Any]
    mode: ViewMode = "scalar"
    scope: ViewScope = "session"
    timeout: float | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ConfigError(f"bad view name {self.name!r}: a non-empty string is required")
        if not callable(self.handler):
            raise ConfigError(f"view {self.name!r}: handler {self.handler!r} is not callable")
        if self.mode not in ("scalar", "batch"):
            raise ConfigError(
                f"view {self.name!r}: mode must be 'scalar' or 'batch', not {self.mode!r}"
            )
        if self.scope not in ("session", "global"):
            raise ConfigError(
                f"view {self.name!r}: scope must be 'session' or 'global', not {self.scope!r}"
            )
        if self.timeout is not None and not self.timeout > 0:
            raise ConfigError(f"view {self.name!r}: timeout must be > 0, not {self.timeout!r}")
