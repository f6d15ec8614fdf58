"""The Kafka-style log and its two backends, chosen by URL.

``embedded://PATH`` (the default, ``embedded://.slither``) opens a durable log in a
local directory; ``kafka://host:port[,host:port...]`` connects to Apache Kafka.
"""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import urlsplit

from slither_stream.errors import ConfigError
from slither_stream.log.base import Consumer, Log, Producer
from slither_stream.log.types import (
    PartitionLag,
    Record,
    RecordMetadata,
    TopicInfo,
    TopicPartition,
    TopicSpec,
)

DEFAULT_LOG_URL = "embedded://.slither"
LOG_URL_ENV = "SLITHER_LOG"

__all__ = [
    "DEFAULT_LOG_URL",
    "Consumer",
    "Log",
    "PartitionLag",
    "Producer",
    "Record",
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


def open_log(url: str | None = None, **options: Any) -> Log:
    """Open the log at ``url`` (see module docstring); ``options`` go to the backend."""
    target = url or default_log_url()
    parts = urlsplit(target)
    if parts.scheme == "embedded":
        path = (parts.netloc + parts.path) or ".slither"
        from slither_stream.log.embedded import EmbeddedLog

        return EmbeddedLog(path, url=target, **options)
    if parts.scheme == "kafka":
        servers = parts.netloc
        if not servers or parts.path not in ("", "/"):
            raise ConfigError(
                f"bad log URL {target!r}: expected kafka://host:port[,host:port...]"
            )
        from slither_stream.log.kafka import KafkaLog

        return KafkaLog(servers, url=target, **options)
    raise ConfigError(
        f"bad log URL {target!r}: the scheme must be embedded:// or kafka:// "
        f"(for example {DEFAULT_LOG_URL} or kafka://127.0.0.1:9092)"
    )
