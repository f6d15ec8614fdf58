"""Typed options of the embedded log, validated in one place.

``open_log(url, **options)`` passes keyword options here. Keys with a dot are Kafka
client configuration names (``"enable.idempotence"``...): they mean nothing to the
embedded log and are accepted and ignored, so one call site works on both backends.
Any other unknown key is a mistake and raises :class:`ConfigError` naming it.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any

from slither_stream.errors import ConfigError


@dataclass(frozen=True)
class LogOptions:
    """Options of one open embedded log.

    ``sync``: fsync the RocksDB WAL on every write. Off by default: an acknowledged
    write is already in the operating system, which survives the process dying
    (``kill -9``); turn it on to survive power loss as well, at a large cost.
    ``linger_ms`` / ``batch_records``: producer batching (a batch is written when it
    holds ``batch_records`` records, on ``flush()``, or ``linger_ms`` after its first
    record). ``auto_compaction``: run the background cleaner. A compacted partition is
    cleaned once at least ``min_dirty_records`` records were appended since its last
    cleaning and they are at least ``min_cleanable_dirty_ratio`` of its records.
    Tombstones are removed ``delete_retention_ms`` after their timestamp. Retention of
    non-compacted topics is enforced every ``retention_check_interval_ms``. Topic
    configs ``min.cleanable.dirty.ratio``, ``delete.retention.ms``, ``retention.ms``
    and ``cleanup.policy`` override these per topic, as on Kafka. ``client_id``: the
    default client id of the log's consumers (what ``Log.group_members`` reports;
    None: ``slither-consumer-<n>``).
    """

    sync: bool = False
    linger_ms: float = 5.0
    batch_records: int = 10_000
    auto_compaction: bool = True
    min_dirty_records: int = 32
    min_cleanable_dirty_ratio: float = 0.5
    delete_retention_ms: int = 86_400_000
    retention_check_interval_ms: int = 60_000
    client_id: str | None = None

    def __post_init__(self) -> None:
        _check_type("sync", self.sync, bool)
        if self.client_id is not None:
            check_client_id(self.client_id)
        _check_type("auto_compaction", self.auto_compaction, bool)
        _check_number("linger_ms", self.linger_ms, minimum=0)
        _check_int("batch_records", self.batch_records, minimum=1)
        _check_int("min_dirty_records", self.min_dirty_records, minimum=1)
        _check_number("min_cleanable_dirty_ratio", self.min_cleanable_dirty_ratio,
                      minimum=0, maximum=1)
        _check_int("delete_retention_ms", self.delete_retention_ms, minimum=0)
        _check_int("retention_check_interval_ms", self.retention_check_interval_ms,
                   minimum=1)

    @classmethod
    def from_kwargs(cls, options: dict[str, Any], *, where: str = "embedded log") -> LogOptions:
        return cls(**_known(cls, options, where))


@dataclass(frozen=True)
class ProducerOptions:
    """Per-producer overrides of the log's batching options, and which deliveries
    run callbacks (``delivery_reports``, as in ``Log.producer``)."""

    linger_ms: float
    batch_records: int
    delivery_reports: str = "all"

    def __post_init__(self) -> None:
        _check_number("linger_ms", self.linger_ms, minimum=0)
        _check_int("batch_records", self.batch_records, minimum=1)
        if self.delivery_reports not in ("all", "errors"):
            raise ConfigError(f"option delivery_reports must be 'all' or 'errors', got "
                              f"{self.delivery_reports!r}")

    @classmethod
    def from_kwargs(cls, defaults: LogOptions, options: dict[str, Any]) -> ProducerOptions:
        base = cls(linger_ms=defaults.linger_ms, batch_records=defaults.batch_records)
        return replace(base, **_known(cls, options, "embedded producer"))


def check_client_id(value: object) -> str:
    """``value`` if it is a usable client id; else a ConfigError."""
    if not isinstance(value, str) or not value:
        raise ConfigError(f"client_id must be a non-empty string, got {value!r}")
    return value


def reject_unknown(options: dict[str, Any], where: str) -> None:
    """Raise for any option other than ignored dotted Kafka config names."""
    _known_names(set(), options, where)


def _known(cls: type[Any], options: dict[str, Any], where: str) -> dict[str, Any]:
    names = {f.name for f in fields(cls)}
    _known_names(names, options, where)
    return {key: value for key, value in options.items() if key in names}


def _known_names(names: set[str], options: dict[str, Any], where: str) -> None:
    unknown = sorted(key for key in options if key not in names and "." not in key)
    if unknown:
        allowed = ", ".join(sorted(names)) or "none"
        raise ConfigError(f"unknown {where} option(s) {', '.join(unknown)} (known: {allowed})")


def _check_type(name: str, value: object, kind: type) -> None:
    if not isinstance(value, kind):
        raise ConfigError(f"option {name} must be {kind.__name__}, got {value!r}")


def _check_int(name: str, value: object, *, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"option {name} must be an integer >= {minimum}, got {value!r}")


def _check_number(name: str, value: object, *, minimum: float,
                  maximum: float | None = None) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"option {name} must be a number, got {value!r}")
    if value < minimum or (maximum is not None and value > maximum):
        upper = f" and <= {maximum}" if maximum is not None else ""
        raise ConfigError(f"option {name} must be >= {minimum}{upper}, got {value!r}")
