"""Topic specs: validation, persisted form, and the in-memory state per topic.

The in-memory :class:`TopicState` carries the offsets every operation needs without
touching disk: the end offset per partition (the next offset to assign), the
beginning offset (first stored record), and the counters that tell the cleaner when
a compacted partition is worth cleaning. It is mutated only under the engine's lock.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from slither_stream.errors import ConfigError
from slither_stream.log.embedded._options import LogOptions
from slither_stream.log.types import TopicInfo, TopicSpec

_LEGAL_NAME = re.compile(r"^[A-Za-z0-9._-]{1,249}$")


@dataclass(eq=False)
class TopicState:
    """One live topic (compared and hashed by identity)."""

    name: str
    topic_id: int
    partitions: int
    compacted: bool
    retention_ms: int | None
    config: dict[str, str]
    dirty_ratio: float
    delete_retention_ms: int
    ends: list[int] = field(default_factory=list)
    begins: list[int] = field(default_factory=list)
    # records appended since the last cleaning, and records stored (approximate
    # after a restart: then end - begin, an upper bound)
    dirty: list[int] = field(default_factory=list)
    stored: list[int] = field(default_factory=list)
    # monotonic deadline at which a kept tombstone expires, per partition
    tombstone_due: list[float | None] = field(default_factory=list)

    def __post_init__(self) -> None:
        n = self.partitions
        self.ends = self.ends or [0] * n
        self.begins = self.begins or [0] * n
        self.dirty = self.dirty or [0] * n
        self.stored = self.stored or [0] * n
        self.tombstone_due = self.tombstone_due or [None] * n

    def info(self) -> TopicInfo:
        return TopicInfo(self.name, self.partitions, self.compacted, self.retention_ms)

    def same_shape(self, spec: TopicSpec) -> bool:
        return (self.partitions, self.compacted) == (spec.partitions, _is_compacted(spec))

    def to_json(self) -> bytes:
        return json.dumps({
            "id": self.topic_id,
            "partitions": self.partitions,
            "compacted": self.compacted,
            "retention_ms": self.retention_ms,
            "config": self.config,
        }, sort_keys=True).encode("utf-8")

    @classmethod
    def from_json(cls, name: str, raw: bytes, defaults: LogOptions) -> TopicState:
        data: dict[str, Any] = json.loads(raw)
        return build_state(
            name, topic_id=int(data["id"]), partitions=int(data["partitions"]),
            compacted=bool(data["compacted"]), retention_ms=data["retention_ms"],
            config=dict(data["config"]), defaults=defaults,
        )


def validate_spec(spec: TopicSpec) -> None:
    """Raise :class:`ConfigError` naming what is wrong with ``spec``."""
    if not isinstance(spec, TopicSpec):
        raise ConfigError(f"expected a TopicSpec, got {spec!r}")
    if not isinstance(spec.name, str) or not _LEGAL_NAME.match(spec.name) \
            or spec.name in (".", ".."):
        raise ConfigError(
            f"invalid topic name {spec.name!r}: use 1-249 characters from "
            f"A-Z a-z 0-9 . _ -"
        )
    if isinstance(spec.partitions, bool) or not isinstance(spec.partitions, int) \
            or spec.partitions < 1:
        raise ConfigError(
            f"topic {spec.name!r}: partitions must be an integer >= 1, got {spec.partitions!r}"
        )
    retention = _retention(spec)
    if retention is not None and retention < 1:
        raise ConfigError(
            f"topic {spec.name!r}: retention_ms must be positive or None, got {retention!r}"
        )
    for key, value in spec.config.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise ConfigError(
                f"topic {spec.name!r}: config entries must be str -> str, got {key!r}: {value!r}"
            )
    _float_config(spec.name, spec.config, "min.cleanable.dirty.ratio")
    _int_config(spec.name, spec.config, "delete.retention.ms")


def state_for_spec(spec: TopicSpec, topic_id: int, defaults: LogOptions) -> TopicState:
    """The state of a freshly created topic (``spec`` already validated)."""
    return build_state(spec.name, topic_id=topic_id, partitions=spec.partitions,
                       compacted=_is_compacted(spec), retention_ms=_retention(spec),
                       config=dict(spec.config), defaults=defaults)


def build_state(name: str, *, topic_id: int, partitions: int, compacted: bool,
                retention_ms: int | None, config: dict[str, str],
                defaults: LogOptions) -> TopicState:
    ratio = _float_config(name, config, "min.cleanable.dirty.ratio")
    delete_retention = _int_config(name, config, "delete.retention.ms")
    return TopicState(
        name=name,
        topic_id=topic_id,
        partitions=partitions,
        compacted=compacted,
        retention_ms=None if compacted else retention_ms,
        config=config,
        dirty_ratio=defaults.min_cleanable_dirty_ratio if ratio is None else ratio,
        delete_retention_ms=(defaults.delete_retention_ms if delete_retention is None
                             else delete_retention),
    )


def _is_compacted(spec: TopicSpec) -> bool:
    policy = spec.config.get("cleanup.policy", "")
    return spec.compacted or "compact" in policy.split(",")


def _retention(spec: TopicSpec) -> int | None:
    if spec.retention_ms is not None:
        if isinstance(spec.retention_ms, bool) or not isinstance(spec.retention_ms, int):
            raise ConfigError(
                f"topic {spec.name!r}: retention_ms must be an integer or None, "
                f"got {spec.retention_ms!r}"
            )
        return None if spec.retention_ms == -1 else spec.retention_ms  # -1: forever, as Kafka
    raw = spec.config.get("retention.ms")
    if raw is None:
        return None
    value = _int_config(spec.name, spec.config, "retention.ms")
    return None if value == -1 else value


def _int_config(topic: str, config: dict[str, str], key: str) -> int | None:
    raw = config.get(key)
    if raw is None:
        return None
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"topic {topic!r}: config {key} must be an integer, got {raw!r}") \
            from None


def _float_config(topic: str, config: dict[str, str], key: str) -> float | None:
    raw = config.get(key)
    if raw is None:
        return None
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0.0 <= value <= 1.0:
        raise ConfigError(f"topic {topic!r}: config {key} must be a number in [0, 1], "
                          f"got {raw!r}")
    return value
