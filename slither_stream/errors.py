"""Error types.

Every failure the framework raises on purpose is a :class:`SlitherError`, so callers
can catch the whole family in one place; the subclasses say which layer failed and
carry the facts a user needs to act (topic, offset, stage, key) as attributes as well
as in the message.
"""

from __future__ import annotations

from typing import Any


class SlitherError(Exception):
    """Base class of every error slither-stream raises deliberately."""


class ConfigError(SlitherError, ValueError):
    """An option, URL or declaration is invalid; raised before any work starts."""


class SerializationError(SlitherError):
    """Bytes could not be decoded (or a value encoded).

    ``topic``, ``partition`` and ``offset`` locate the record when it came from the
    log, so the message alone is enough to find the bad input. ``operation`` says
    whether decoding or encoding failed; ``field`` is the path of the mismatching
    field (``"items[2].price"``) when a schema check can tell.
    """

    def __init__(
        self,
        reason: str,
        *,
        topic: str | None = None,
        partition: int | None = None,
        offset: int | None = None,
        serde: str | None = None,
        operation: str = "decode",
        field: str | None = None,
    ) -> None:
        self.reason = reason
        self.topic = topic
        self.partition = partition
        self.offset = offset
        self.serde = serde
        self.operation = operation
        self.field = field
        where = []
        if topic is not None:
            where.append(f"topic={topic}")
        if partition is not None:
            where.append(f"partition={partition}")
        if offset is not None:
            where.append(f"offset={offset}")
        prefix = f"{serde} " if serde else ""
        location = f" at {' '.join(where)}" if where else ""
        what = "decode record" if operation == "decode" else f"{operation} value"
        super().__init__(f"cannot {prefix}{what}{location}: {reason}")

    def located(self, topic: str, partition: int, offset: int) -> SerializationError:
        """Return a copy of this error that names where the record came from."""
        return SerializationError(
            self.reason, topic=topic, partition=partition, offset=offset, serde=self.serde,
            operation=self.operation, field=self.field,
        )


class LogError(SlitherError):
    """The log (embedded or Kafka) refused or failed an operation."""


class UnknownTopicError(LogError, KeyError):
    """An operation named a topic that does not exist."""

    def __init__(self, topic: str) -> None:
        self.topic = topic
        super().__init__(topic)

    def __str__(self) -> str:
        return f"unknown topic {self.topic!r}"


class TopicExistsError(LogError):
    """``create_topics`` named a topic that already exists with another shape."""


class LogClosedError(LogError):
    """The log, producer or consumer was used after ``close()``."""


class LogLockedError(LogError):
    """Another process already has the embedded log directory open."""


class ProduceError(LogError):
    """A record was not acknowledged by the log.

    ``undelivered`` is how many records the error stands for: 1 for one record, the
    count of every failed record when ``flush`` reports several at once.
    """

    def __init__(self, message: str, *, undelivered: int = 1) -> None:
        super().__init__(message)
        self.undelivered = undelivered


class AuthenticationError(LogError):
    """The broker refused the client's credentials or TLS handshake (wrong password,
    wrong SASL mechanism, a certificate that is expired or signed by an untrusted
    CA). ``broker`` is the address, ``mechanism`` the SASL mechanism (or
    ``"TLS"``), ``cause`` what failed. Retrying cannot help: fix the client
    configuration and start again."""

    def __init__(self, message: str, *, broker: str, mechanism: str, cause: str) -> None:
        self.broker = broker
        self.mechanism = mechanism
        self.cause = cause
        super().__init__(message)


class AuthorizationError(LogError):
    """The broker's authorizer denied an operation: no ACL allows ``principal`` to
    ``operation`` (``READ``, ``WRITE``, ``DESCRIBE``, ``CREATE``...) the resource
    ``resource`` of type ``resource_type`` (``TOPIC``, ``GROUP``,
    ``TRANSACTIONAL_ID``, ``CLUSTER``). Retrying cannot help until an operator adds
    the ACL (``slither describe --acls`` lists the ones a pipe needs)."""

    def __init__(self, *, principal: str, resource_type: str, resource: str,
                 operation: str, detail: str = "") -> None:
        self.principal = principal
        self.resource_type = resource_type
        self.resource = resource
        self.operation = operation
        text = (f"not authorized: principal {principal} may not {operation} "
                f"{resource_type} {resource!r}")
        super().__init__(text + (f" ({detail})" if detail else "")
                         + f"; add an ACL allowing {operation} on {resource_type} "
                         f"{resource!r} for {principal}")


class TransactionError(LogError):
    """A transaction could not be begun, committed or aborted."""


class TransactionInProgressError(TransactionError):
    """``commit_transaction`` timed out while the commit is still under way (the
    broker is unreachable): call ``commit_transaction()`` again to resume it. An abort
    is not possible until the commit has finished one way or the other."""


class StoreError(SlitherError):
    """A store or table operation failed."""


class KeyNotFoundError(StoreError, KeyError):
    """``get_strict`` found no value; names the store, table and key."""

    def __init__(self, store: str, table: str, key: Any) -> None:
        self.store = store
        self.table = table
        self.key = key
        super().__init__(store, table, key)

    def __str__(self) -> str:
        return f"key {self.key!r} not found in table {self.store}.{self.table}"


class StateDataError(StoreError):
    """A record cannot use its stage's keyed state: it has no key, or the stored
    value does not decode. The record goes to the stage's dead-letter topic,
    whatever the stage's error policy (like a record that does not decode)."""


class DispatchError(SlitherError):
    """A dispatch run halted; ``partial`` holds the results finished before it."""

    def __init__(self, message: str, *, partial: list[Any] | None = None,
                 cause: BaseException | None = None) -> None:
        self.partial = partial if partial is not None else []
        self.cause = cause
        super().__init__(message)


class ComputeError(SlitherError):
    """User compute code failed, crashed, hung, or broke the batch contract."""


class PipeError(SlitherError):
    """A pipe run hit an unrecoverable failure (for example a stage under ``halt``)."""
