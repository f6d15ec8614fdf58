"""Subject names, by confluent-kafka's own strategies.

A subject is the scope in which a registry versions a schema and checks
compatibility. The three strategies are confluent-kafka's functions, so a subject
named here is the subject a Java, Go or Python producer with the same strategy uses:

- ``topic`` -- ``<topic>-value`` (``<topic>-key`` for keys): one schema per topic,
  Confluent's default.
- ``record`` -- the record's full name: one schema for every topic carrying it.
- ``topic_record`` -- ``<topic>-<record full name>``: several record types per topic.
"""

from __future__ import annotations

from collections.abc import Callable

from confluent_kafka.schema_registry import (
    record_subject_name_strategy,
    topic_record_subject_name_strategy,
    topic_subject_name_strategy,
)
from confluent_kafka.serialization import MessageField, SerializationContext

from slither_stream.errors import ConfigError
from slither_stream.serde.registry.config import SUBJECT_STRATEGIES, SubjectStrategy

_STRATEGIES: dict[str, Callable[[SerializationContext, str | None], str | None]] = {
    "topic": topic_subject_name_strategy,
    "record": record_subject_name_strategy,
    "topic_record": topic_record_subject_name_strategy,
}


def subject_name(strategy: SubjectStrategy, topic: str | None, record_name: str | None,
                 *, is_key: bool = False) -> str:
    """The subject of values (or keys) of ``record_name`` on ``topic``.

    ConfigError when the strategy needs what is missing: a topic for ``topic`` and
    ``topic_record``, a named record for ``record`` and ``topic_record``.
    """
    function = _STRATEGIES.get(strategy)
    if function is None:
        raise ConfigError(f"unknown subject strategy {strategy!r}; valid: "
                          f"{', '.join(SUBJECT_STRATEGIES)}")
    if strategy != "record" and not topic:
        raise ConfigError(f"subject strategy {strategy!r} needs the topic the serde is for")
    if strategy != "topic" and not record_name:
        raise ConfigError(f"subject strategy {strategy!r} needs a named record schema")
    context = SerializationContext(topic or "", MessageField.KEY if is_key else
                                   MessageField.VALUE)
    found = function(context, record_name)
    assert found is not None
    return found
