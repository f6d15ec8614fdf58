"""Translate librdkafka errors into slither-stream's error types.

confluent-kafka reports failures as :class:`KafkaException` wrapping a
:class:`KafkaError` code; callers of the log interface catch
:class:`~slither_stream.errors.LogError` subclasses instead, with a message that
says what was being done.
"""

from __future__ import annotations

from confluent_kafka import KafkaError, KafkaException

from slither_stream.errors import LogError, TopicExistsError, UnknownTopicError

_UNKNOWN_TOPIC_CODES = {
    KafkaError.UNKNOWN_TOPIC_OR_PART,
    KafkaError._UNKNOWN_TOPIC,
    KafkaError._UNKNOWN_PARTITION,
}


def kafka_error_of(exc: BaseException) -> KafkaError | None:
    """The :class:`KafkaError` carried by ``exc``, if any."""
    if isinstance(exc, KafkaException) and exc.args and isinstance(exc.args[0], KafkaError):
        return exc.args[0]
    if isinstance(exc, KafkaError):
        return exc
    return None


def error_code(exc: BaseException) -> int | None:
    """The librdkafka error code carried by ``exc``, if any."""
    err = kafka_error_of(exc)
    return err.code() if err is not None else None


def describe(exc: BaseException) -> str:
    """A short human text for a confluent-kafka exception or error."""
    err = kafka_error_of(exc)
    if err is None:
        return str(exc)
    return f"{err.name()}: {err.str()}"


def translate(exc: BaseException, doing: str, *, topic: str | None = None) -> LogError:
    """Map ``exc`` (raised while ``doing``) to the most specific :class:`LogError`."""
    code = error_code(exc)
    if topic is not None and code in _UNKNOWN_TOPIC_CODES:
        return UnknownTopicError(topic)
    if topic is not None and code == KafkaError.TOPIC_ALREADY_EXISTS:
        return TopicExistsError(f"topic {topic!r} already exists")
    return LogError(f"Kafka failed while {doing}: {describe(exc)}")


def is_unknown_topic(exc: BaseException) -> bool:
    """True if ``exc`` says a topic or partition does not exist."""
    return error_code(exc) in _UNKNOWN_TOPIC_CODES
