"""slither-stream: stream processing for Python on Kafka-style logs.

The public API is what this module exports; everything else is internal and may
change between releases.
"""

from slither_stream.context import Context
from slither_stream.errors import (
    ComputeError,
    ConfigError,
    DispatchError,
    KeyNotFoundError,
    LogError,
    PipeError,
    SerializationError,
    SlitherError,
    StoreError,
    UnknownTopicError,
)
from slither_stream.item import Item
from slither_stream.log import open_log

__version__ = "0.1.0"
"""The version of this release of slither-stream."""

__all__ = [
    "ComputeError",
    "ConfigError",
    "Context",
    "DispatchError",
    "Item",
    "KeyNotFoundError",
    "LogError",
    "PipeError",
    "SerializationError",
    "SlitherError",
    "StoreError",
    "UnknownTopicError",
    "__version__",
    "open_log",
]
