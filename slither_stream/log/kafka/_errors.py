"""Translate librdkafka errors into slither-stream's error types.

confluent-kafka reports failures as :class:`KafkaException` wrapping a
:class:`KafkaError` code; callers of the log interface catch
:class:`~slither_stream.errors.LogError` subclasses instead, with a message that
says what was being done. Every text taken from librdkafka is scrubbed of secrets
(:func:`slither_stream.log._secrets.scrub`).

Security failures get their own types: :func:`authentication_error` recognises a
refused login or TLS handshake (:class:`AuthenticationError`, naming the broker,
the mechanism and the cause in words), :func:`authorization_error` a denied
operation (:class:`AuthorizationError`, naming principal, resource and operation).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from confluent_kafka import KafkaError, KafkaException

from slither_stream.errors import (
    AuthenticationError,
    AuthorizationError,
    LogError,
    TopicExistsError,
    UnknownTopicError,
)
from slither_stream.log._secrets import scrub

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
        return scrub(str(exc))
    return scrub(f"{err.name()}: {err.str()}")


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


# -- security -----------------------------------------------------------------------

AUTHORIZATION_CODES: dict[int, str] = {
    KafkaError.TOPIC_AUTHORIZATION_FAILED: "TOPIC",
    KafkaError.GROUP_AUTHORIZATION_FAILED: "GROUP",
    KafkaError.CLUSTER_AUTHORIZATION_FAILED: "CLUSTER",
    KafkaError.TRANSACTIONAL_ID_AUTHORIZATION_FAILED: "TRANSACTIONAL_ID",
}
"""Broker answers that an ACL is missing, by the resource type they are about."""

CLUSTER = "kafka-cluster"
"""The name of Kafka's one CLUSTER resource."""

Denied = Mapping[str, tuple[str, str]]
"""Per resource type (``TOPIC``...), the ``(resource, operation)`` a call needed."""


def authorization_error(exc: BaseException | KafkaError, *, principal: str,
                        needed: Denied) -> AuthorizationError | None:
    """The :class:`AuthorizationError` that ``exc`` stands for (None if it is not
    an authorization failure). ``needed`` says, per resource type, which resource
    and operation the failed call was about."""
    err = exc if isinstance(exc, KafkaError) else kafka_error_of(exc)
    if err is None:
        return None
    kind = AUTHORIZATION_CODES.get(err.code())
    if kind is None:
        return None
    resource, operation = needed.get(kind, (CLUSTER if kind == "CLUSTER" else "?", "?"))
    return AuthorizationError(principal=principal, resource_type=kind, resource=resource,
                              operation=operation, detail=scrub(f"{err.name()}: {err.str()}"))


_BROKER = re.compile(r"\b((?:sasl_ssl|sasl_plaintext|ssl|plaintext)://[^/\s:]+:\d+)",
                     re.IGNORECASE)

_CAUSES: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern, re.IGNORECASE), cause) for pattern, cause in (
        (r"invalid credentials|authentication failed",
         "the broker rejected the username or password"),
        (r"unsupported sasl mechanism",
         "the broker does not accept this SASL mechanism"),
        (r"certificate verify failed|broker certificate could not be verified",
         "the broker's certificate is not trusted: it is not signed by a CA in "
         "ssl.ca.location, or it does not name this host"),
        (r"alert certificate expired",
         "the broker rejected the client certificate: it has expired"),
        (r"alert (?:certificate unknown|bad certificate|unknown ca)|alert number (?:42|46|48)",
         "the broker rejected the client certificate (ssl.certificate.location): "
         "expired, revoked or signed by a CA the broker does not trust"),
        (r"alert handshake failure|certificate required|alert number (?:40|116)",
         "the TLS handshake failed: the broker may require a client certificate "
         "(ssl.certificate.location, ssl.key.location)"),
        (r"wrong version number|packet length too long|unexpected eof|disconnected while",
         "the broker's listener does not speak this security.protocol"),
    ))

_SECURITY_CODES = frozenset({KafkaError._AUTHENTICATION, KafkaError._SSL,
                             KafkaError.SASL_AUTHENTICATION_FAILED,
                             KafkaError.UNSUPPORTED_SASL_MECHANISM,
                             KafkaError.ILLEGAL_SASL_STATE})


def authentication_error(err: KafkaError, *, bootstrap: str,
                         mechanism: str) -> AuthenticationError | None:
    """The :class:`AuthenticationError` that the client error ``err`` stands for,
    or None when it is not a failed login or TLS handshake."""
    text = err.str()
    code = err.code()
    tls_refusal = code == KafkaError._TRANSPORT and re.search(r"\bSSL\b", text) is not None
    if code not in _SECURITY_CODES and not tls_refusal:
        return None
    found = _BROKER.search(text)
    broker = found.group(1) if found else bootstrap
    cause = next((reason for pattern, reason in _CAUSES if pattern.search(text)),
                 "the broker refused the connection")
    detail = scrub(text)
    return AuthenticationError(
        f"cannot authenticate to Kafka broker {broker} with {mechanism}: {cause} "
        f"({err.name()}: {detail})", broker=broker, mechanism=mechanism, cause=cause)
