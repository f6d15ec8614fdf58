"""Value serdes: how table values become RocksDB and changelog bytes.

A table names its value serde with anything :func:`slither_stream.serde.serde_for`
accepts: ``"json"`` (the default, orjson), ``"string"``, ``"raw"``,
``"avro:<schema full name>"``, or a :class:`~slither_stream.serde.Serde` instance.
``"bytes"`` is accepted as an alias of ``"raw"``.
"""

from __future__ import annotations

from typing import Any

from slither_stream.serde import Serde, serde_for

ValueCodec = Serde[Any]


def value_codec_for(spec: str | Serde[Any]) -> Serde[Any]:
    """Resolve a table's value serde; a bad name is a ConfigError listing valid ones."""
    if spec == "bytes":
        spec = "raw"
    return serde_for(spec)
