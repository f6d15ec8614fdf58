"""The Kafka-style log and its two backends, chosen by URL.

``embedded://PATH`` (the default, ``embedded://.slither``) opens a durable log in a
local directory; ``kafka://host:port[,host:port...]`` connects to Apache Kafka, and a
query string sets librdkafka properties on every client the log creates
(``kafka://broker:9092?session.timeout.ms=6000&compression.type=zstd``), so a worker
started with ``--log`` / ``SLITHER_LOG`` can be tuned without code.

Security settings (TLS, SASL) and their secrets do not belong in the URL: they come
from a librdkafka properties file (``kafka_config=``, ``--kafka-config``,
``$SLITHER_KAFKA_CONFIG``) and environment variables (``SLITHER_KAFKA_SASL_PASSWORD``...) (see
:mod:`slither_stream.log.kafka`).
"""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from slither_stream.errors import ConfigError
from slither_stream.log._secrets import redact_url
from slither_stream.log.base import Consumer, Log, Producer
from slither_stream.log.record_batch import RecordBatch
from slither_stream.log.types import (
    Access,
    GroupMember,
    PartitionLag,
    Record,
    RecordMetadata,
    TopicInfo,
    TopicPartition,
    TopicSpec,
)

DEFAULT_LOG_URL = "embedded://.slither"
"""The log used when no URL is given and ``$SLITHER_LOG`` is not set."""
LOG_URL_ENV = "SLITHER_LOG"
KAFKA_CONFIG_ENV = "SLITHER_KAFKA_CONFIG"
"""Path of a librdkafka properties file for every Kafka client (``kafka_config=``)."""

__all__ = [
    "DEFAULT_LOG_URL",
    "Access",
    "Consumer",
    "GroupMember",
    "Log",
    "PartitionLag",
    "Producer",
    "Record",
    "RecordBatch",
    "RecordMetadata",
    "TopicInfo",
    "TopicPartition",
    "TopicSpec",
    "default_log_url",
    "open_log",
]


def default_log_url() -> str:
    """``$SLITHER_LOG`` if set, else ``embedded://.slither``."""
    return os.environ.get(LOG_URL_ENV) or DEFAULT_LOG_URL


def open_log(url: str | None = None, *, kafka_config: str | os.PathLike[str] | None = None,
             **options: Any) -> Log:
    """Open the log at ``url`` (see module docstring); ``options`` go to the backend.

    ``kafka_config`` is a librdkafka properties file for every client of a Kafka log
    (default ``$SLITHER_KAFKA_CONFIG``); the embedded log has no clients and ignores
    it.
    """
    target = url or default_log_url()
    parts = urlsplit(target)
    if kafka_config is not None and parts.scheme == "kafka":
        options["kafka_config"] = kafka_config
    if parts.scheme == "embedded":
        path = (parts.netloc + parts.path) or ".slither"
        from slither_stream.log.embedded import EmbeddedLog

        return EmbeddedLog(path, url=target, **options)
    if parts.scheme == "kafka":
        servers = parts.netloc
        if not servers or parts.path not in ("", "/"):
            raise ConfigError(
                f"bad log URL {redact_url(target)!r}: expected kafka://host:port[,host:port...]"
            )
        from slither_stream.log.kafka import KafkaLog

        if parts.query:
            options = {**options, "config": {**_query_config(target, parts.query),
                                             **(options.get("config") or {})}}
        return KafkaLog(servers, url=target, **options)
    raise ConfigError(
        f"bad log URL {redact_url(target)!r}: the scheme must be embedded:// or kafka:// "
        f"(for example {DEFAULT_LOG_URL} or kafka://127.0.0.1:9092)"
    )


def _query_config(url: str, query: str) -> dict[str, str]:
    """librdkafka properties from a Kafka log URL's query (``name=value&...``)."""
    try:
        pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=True)
    except ValueError as error:
        raise ConfigError(f"bad log URL {redact_url(url)!r}: the query must be name=value pairs "
                          f"of librdkafka properties ({error})") from error
    for name, value in pairs:
        if not value:
            raise ConfigError(f"bad log URL {redact_url(url)!r}: property {name!r} has no value")
    return dict(pairs)
