"""Structured log lines for workers: one JSON object per line, or readable text.

``configure_logging("info", fmt="json")`` makes every record a single line such as::

    {"ts": "2026-11-28T07:40:01.123Z", "level": "INFO", "logger": "slither_stream.pipe",
     "msg": "partition assigned", "stage": "score", "topic": "txns", "partition": 3}

Fields passed through ``extra=`` (``stage``, ``topic``, ``partition``, ``offset``,
anything else) become top-level keys, so log shippers can index them without
parsing the message. :func:`bind` returns a logger that adds the same fields to
every line, which is how a stage runtime tags its records once.

Only the root logger's handler installed here is replaced on a second call, so the
function is safe to call again (e.g. from tests or a reconfigured CLI) and leaves
handlers that others attached alone.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping, MutableMapping
from datetime import UTC, datetime
from typing import Any, TextIO

import orjson

from slither_stream.errors import ConfigError

FORMATS = ("json", "text")

# Attributes every LogRecord has; anything else on a record came from ``extra=``.
_STANDARD_ATTRS = frozenset(
    vars(logging.LogRecord("x", logging.INFO, "x", 0, "x", None, None))
) | {"message", "asctime", "taskName"}


def _timestamp(record: logging.LogRecord) -> str:
    moment = datetime.fromtimestamp(record.created, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def extra_fields(record: logging.LogRecord) -> dict[str, Any]:
    """The fields a caller attached with ``extra=`` (or through :func:`bind`)."""
    return {key: value for key, value in vars(record).items()
            if key not in _STANDARD_ATTRS and not key.startswith("_")}


class JsonFormatter(logging.Formatter):
    """Format a record as one JSON object; values JSON cannot hold become ``str()``."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": _timestamp(record),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in extra_fields(record).items():
            if key not in line:
                line[key] = value
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return orjson.dumps(line, default=str, option=orjson.OPT_NON_STR_KEYS).decode()


class TextFormatter(logging.Formatter):
    """``ts LEVEL logger: msg key=value ...`` for people reading a terminal."""

    def format(self, record: logging.LogRecord) -> str:
        fields = " ".join(f"{key}={value}" for key, value in extra_fields(record).items())
        text = f"{_timestamp(record)} {record.levelname:<7} {record.name}: {record.getMessage()}"
        if fields:
            text = f"{text} {fields}"
        if record.exc_info:
            text = f"{text}\n{self.formatException(record.exc_info)}"
        return text


class _StaticFields(logging.Filter):
    """Adds fixed fields to every record passing the handler (never overrides)."""

    def __init__(self, fields: Mapping[str, Any]) -> None:
        super().__init__()
        self.fields = dict(fields)

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in self.fields.items():
            if not hasattr(record, key):
                setattr(record, key, value)
        return True


class _SlitherHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Marks the handler this module installed, so reconfiguring replaces only it."""


def parse_level(level: str | int) -> int:
    """``"info"``, ``"DEBUG"``, ``20`` -> a logging level; anything else is a ConfigError."""
    if isinstance(level, bool):
        raise ConfigError(f"log level must be a name or a number, got {level!r}")
    if isinstance(level, int):
        return level
    number = logging.getLevelNamesMapping().get(str(level).upper())
    if number is None:
        names = ", ".join(n.lower() for n in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"))
        raise ConfigError(f"unknown log level {level!r}; use one of {names}")
    return number


def configure_logging(level: str | int = "info", fmt: str = "json",
                      stream: TextIO | None = None,
                      fields: Mapping[str, Any] | None = None) -> logging.Handler:
    """Send the root logger's records to ``stream`` (stderr) as JSON or text lines.

    ``fields`` are added to every line unless the record sets them itself (a worker
    process passes e.g. ``{"member": "0"}`` so lines from several processes can be
    told apart). Returns the installed handler. Calling again replaces the handler
    installed by the previous call.
    """
    if fmt not in FORMATS:
        raise ConfigError(f"unknown log format {fmt!r}; use one of {', '.join(FORMATS)}")
    number = parse_level(level)
    handler = _SlitherHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    if fields:
        handler.addFilter(_StaticFields(fields))
    root = logging.getLogger()
    for existing in list(root.handlers):
        if isinstance(existing, _SlitherHandler):
            root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(number)
    return handler


class BoundLogger(logging.LoggerAdapter):  # type: ignore[type-arg]
    """A logger adapter whose fields merge with (not replace) a call's ``extra=``."""

    def process(self, msg: Any, kwargs: MutableMapping[str, Any]) -> tuple[Any, Any]:
        bound: Mapping[str, Any] = self.extra or {}
        kwargs["extra"] = {**bound, **(kwargs.get("extra") or {})}
        return msg, kwargs

    def bind(self, **fields: Any) -> BoundLogger:
        """A child adapter with more fields."""
        return BoundLogger(self.logger, {**(self.extra or {}), **fields})


def bind(logger: logging.Logger | str, **fields: Any) -> BoundLogger:
    """A logger that adds ``fields`` (e.g. ``stage="score"``) to every line."""
    base = logging.getLogger(logger) if isinstance(logger, str) else logger
    return BoundLogger(base, fields)
