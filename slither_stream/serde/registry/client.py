"""The registry client: confluent-kafka's ``SchemaRegistryClient``, with bounded retries
and errors that say what happened.

Every HTTP call goes through confluent-kafka's client (its HTTP session, TLS, basic
and bearer auth, and its schema caches: a schema fetched by id, or an id looked up by
subject and schema, is asked once per process). This module adds what a streaming
worker needs around it:

- **Bounded retries** with exponential backoff (0.1 s doubling to 5 s) for the faults
  that pass -- connection refused or reset, timeouts, HTTP 5xx and 429: up to
  ``connect_timeout`` for the calls made at start (:meth:`RegistryClient.ensure_reachable`,
  looking up the pipe's own schemas), up to ``outage_timeout`` for a schema id first
  seen while running. Then :class:`RegistryUnavailableError`.
- **No retry** for answers that will not change: 401/403 (:class:`RegistryAuthError`,
  naming the URL and the user, never the secret), a certificate the CA does not
  verify, 404 (``None`` from the lookups), 409 and 422.
- One client per :class:`RegistryConfig` in a process (:meth:`RegistryClient.shared`),
  so every serde of a worker shares one cache and one HTTP connection pool.

The client is thread-safe (confluent-kafka's caches lock; the HTTP session is
shared); the calls block the calling thread while they retry.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

import confluent_kafka
from confluent_kafka.schema_registry import (
    RegisteredSchema,
    Schema,
    SchemaRegistryClient,
    SchemaRegistryError,
)

from slither_stream.errors import ConfigError
from slither_stream.serde.registry.config import RegistryConfig
from slither_stream.serde.registry.errors import (
    IncompatibleSchemaError,
    RegistryAuthError,
    RegistryError,
    RegistryUnavailableError,
)

try:  # the HTTP library confluent-kafka's client runs on (httpx2, else httpx)
    import httpx2 as _httpx  # type: ignore[import-not-found, unused-ignore]
except ImportError:  # pragma: no cover - older confluent-kafka
    import httpx as _httpx  # type: ignore[import-not-found, no-redef, unused-ignore]

T = TypeVar("T")

SUBJECT_NOT_FOUND = 40401
VERSION_NOT_FOUND = 40402
SCHEMA_NOT_FOUND = 40403
INCOMPATIBLE = 409
INVALID_SCHEMA = 42201
_NOT_FOUND_CODES = frozenset({SUBJECT_NOT_FOUND, VERSION_NOT_FOUND, SCHEMA_NOT_FOUND})

FIRST_BACKOFF_S = 0.1
MAX_BACKOFF_S = 5.0

MIN_CONFLUENT_KAFKA = (2, 10)
"""Registry mode needs confluent-kafka's httpx-based client with bearer tokens (2.10+;
tested with 2.16); the rest of slither-stream works from 2.6."""

_shared: dict[RegistryConfig, RegistryClient] = {}
_shared_lock = threading.Lock()


class RegistryClient:
    """confluent-kafka's registry client with slither's retries and errors (see the
    module docstring). ``sleep`` is the wait between retries (tests shorten it)."""

    def __init__(self, config: RegistryConfig, *,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.config = config
        self._sleep = sleep
        installed = str(confluent_kafka.__version__)
        if tuple(int(part) for part in installed.split(".")[:2]) < MIN_CONFLUENT_KAFKA:
            raise ConfigError(
                f"schema registry mode needs confluent-kafka >= "
                f"{'.'.join(map(str, MIN_CONFLUENT_KAFKA))} (installed: {installed}); "
                f"pip install -U 'confluent-kafka[avro,json,schemaregistry]'")
        try:
            self._client = SchemaRegistryClient(config.client_conf())
        except (ValueError, TypeError, OSError) as error:  # bad TLS files, bad options
            raise ConfigError(config.redact(
                f"{config}: cannot configure the client: {error}")) from error
        self._reachable = False

    @classmethod
    def shared(cls, config: RegistryConfig) -> RegistryClient:
        """The process's client for ``config`` (one cache per registry)."""
        with _shared_lock:
            client = _shared.get(config)
            if client is None:
                client = _shared[config] = cls(config)
            return client

    @property
    def url(self) -> str:
        """The registry URL, without credentials."""
        return self.config.display_url

    @property
    def confluent(self) -> SchemaRegistryClient:
        """The underlying confluent-kafka client (for its serializers)."""
        return self._client

    def close(self) -> None:
        """Close the HTTP session (a shared client stays registered: do not close it)."""
        self._client.close()

    # -- start ------------------------------------------------------------------------

    def ensure_reachable(self) -> None:
        """Check once that the registry answers, retrying up to ``connect_timeout``.

        Raises RegistryUnavailableError (with the last failure) or RegistryAuthError.
        """
        if self._reachable:
            return
        # GET /schemas/types where the client has it (cheap), else GET /subjects.
        ping = getattr(self._client, "get_schema_types", None) or self._client.get_subjects
        self._call("reach it", ping, budget=self.config.connect_timeout)
        self._reachable = True

    # -- schemas ----------------------------------------------------------------------

    def schema_by_id(self, schema_id: int, *, running: bool = True) -> Schema | None:
        """The schema with ``schema_id``, or None when the registry has none.

        ``running`` retries an unreachable registry up to ``outage_timeout`` (a
        stage that met a new id), else up to ``connect_timeout``.
        """
        budget = self.config.outage_timeout if running else self.config.connect_timeout
        try:
            return self._call(f"fetch schema id {schema_id}",
                              lambda: self._client.get_schema(schema_id), budget=budget)
        except RegistryError as error:
            if error.code in _NOT_FOUND_CODES or error.status == 404:
                return None
            raise

    def lookup(self, subject: str, schema: Schema) -> RegisteredSchema | None:
        """The version of ``subject`` that is ``schema``, or None (no such subject or
        version)."""
        try:
            return self._call(f"look up the schema of subject {subject!r}",
                              lambda: self._client.lookup_schema(subject, schema),
                              budget=self.config.connect_timeout, subject=subject)
        except RegistryError as error:
            if error.code in _NOT_FOUND_CODES or error.status == 404:
                return None
            raise

    def register(self, subject: str, schema: Schema) -> int:
        """Register ``schema`` as a version of ``subject``; its id.

        Raises IncompatibleSchemaError (HTTP 409) with the registry's reason, and
        ConfigError for a schema the registry finds invalid (HTTP 422).
        """
        try:
            return self._call(f"register a schema under subject {subject!r}",
                              lambda: self._client.register_schema(subject, schema),
                              budget=self.config.connect_timeout, subject=subject)
        except RegistryError as error:
            if error.status == 409 or error.code == INCOMPATIBLE:
                reason = error.detail
                raise IncompatibleSchemaError(
                    f"{self.config}: the schema is not compatible with subject "
                    f"{subject!r}: {reason}", url=self.url, subject=subject, version=None,
                    reason=reason, status=error.status, code=error.code) from error
            if error.status == 422:
                raise ConfigError(f"{self.config}: the schema for subject {subject!r} is "
                                  f"invalid: {error.detail}") from error
            raise

    def latest(self, subject: str) -> RegisteredSchema | None:
        """The latest version of ``subject``, or None when the subject does not exist."""
        try:
            return self._call(f"fetch the latest version of subject {subject!r}",
                              lambda: self._client.get_latest_version(subject),
                              budget=self.config.connect_timeout, subject=subject)
        except RegistryError as error:
            if error.code in _NOT_FOUND_CODES or error.status == 404:
                return None
            raise

    def version(self, subject: str, version: int) -> RegisteredSchema | None:
        """Version ``version`` of ``subject``, or None."""
        try:
            return self._call(f"fetch version {version} of subject {subject!r}",
                              lambda: self._client.get_version(subject, version),
                              budget=self.config.connect_timeout, subject=subject)
        except RegistryError as error:
            if error.code in _NOT_FOUND_CODES or error.status == 404:
                return None
            raise

    def versions(self, subject: str) -> list[int]:
        """The versions of ``subject`` (empty when it does not exist)."""
        try:
            found = self._call(f"list the versions of subject {subject!r}",
                               lambda: self._client.get_versions(subject),
                               budget=self.config.connect_timeout, subject=subject)
        except RegistryError as error:
            if error.code in _NOT_FOUND_CODES or error.status == 404:
                return []
            raise
        return sorted(int(v) for v in found)

    def subjects(self) -> list[str]:
        """Every subject of the registry, sorted."""
        return sorted(self._call("list subjects", self._client.get_subjects,
                                 budget=self.config.connect_timeout))

    def is_compatible(self, subject: str, schema: Schema, version: int | str = "latest"
                      ) -> bool:
        """The registry's own compatibility test of ``schema`` against ``version`` of
        ``subject`` under the subject's rule (True for a subject with no versions)."""
        try:
            return bool(self._call(
                f"test compatibility with subject {subject!r}",
                lambda: self._client.test_compatibility(subject, schema, version=version),
                budget=self.config.connect_timeout, subject=subject))
        except RegistryError as error:
            if error.code in _NOT_FOUND_CODES or error.status == 404:
                return True
            raise

    def set_compatibility(self, level: str, subject: str | None = None) -> None:
        """Set the compatibility rule of ``subject`` (or the registry's default)."""
        self._call("set compatibility",
                   lambda: self._client.set_compatibility(subject_name=subject, level=level),
                   budget=self.config.connect_timeout, subject=subject)

    def delete_subject(self, subject: str, *, permanent: bool = False) -> list[int]:
        """Delete ``subject``; the versions it had (empty when it did not exist)."""
        try:
            return list(self._call(
                f"delete subject {subject!r}",
                lambda: self._client.delete_subject(subject, permanent=permanent),
                budget=self.config.connect_timeout, subject=subject))
        except RegistryError as error:
            if error.code in _NOT_FOUND_CODES or error.status == 404:
                return []
            raise

    # -- retries and errors ---------------------------------------------------------------

    def _call(self, what: str, call: Callable[[], T], *, budget: float,
              subject: str | None = None) -> T:
        started = time.monotonic()
        delay = FIRST_BACKOFF_S
        attempts = 0
        while True:
            attempts += 1
            try:
                return call()
            except SchemaRegistryError as error:
                status = int(error.http_status_code)
                code = int(error.error_code) if error.error_code is not None else None
                if status in (401, 403):
                    raise self._auth_error(status, subject) from error
                if status < 500 and status != 429:
                    raise RegistryError(
                        self.config.redact(f"{self.config}: cannot {what}: HTTP {status}"
                                           f"{f' (code {code})' if code else ''}: "
                                           f"{_server_reason(error)}"),
                        url=self.url, status=status, code=code, subject=subject) from error
                last = f"HTTP {status}: {_server_reason(error)}"
            except _httpx.TransportError as error:
                detail = str(error) or type(error).__name__
                if "CERTIFICATE_VERIFY_FAILED" in detail or "certificate verify" in detail:
                    raise RegistryError(self.config.redact(
                        f"{self.config}: its TLS certificate is not trusted ({detail}); give "
                        f"the CA that signed it as ca_location (or SLITHER_SCHEMA_REGISTRY_CA)"),
                        url=self.url, subject=subject) from error
                last = f"{type(error).__name__}: {detail}"
            elapsed = time.monotonic() - started
            if elapsed + delay > budget:
                raise RegistryUnavailableError(
                    self.config.redact(f"{self.config} is unreachable: cannot {what} after "
                                       f"{attempts} attempt{'s' if attempts > 1 else ''} over "
                                       f"{elapsed:.1f}s ({last})"),
                    url=self.url, subject=subject)
            self._sleep(delay)
            delay = min(delay * 2, MAX_BACKOFF_S)

    def _auth_error(self, status: int, subject: str | None) -> RegistryAuthError:
        config = self.config
        if status == 401:
            if config.user_info is not None:
                user = config.user_info.split(":", 1)[0]
                detail = (f"refused the credentials of user {user!r} (HTTP 401 Unauthorized); "
                          f"check SLITHER_SCHEMA_REGISTRY_USER_INFO or the config file")
            elif config.bearer_token is not None:
                detail = ("refused the bearer token (HTTP 401 Unauthorized); check "
                          "SLITHER_SCHEMA_REGISTRY_TOKEN or the config file")
            else:
                detail = ("requires credentials (HTTP 401 Unauthorized); set "
                          "SLITHER_SCHEMA_REGISTRY_USER_INFO=user:password or a token")
        else:
            detail = (f"denied access{f' to subject {subject!r}' if subject else ''} "
                      f"(HTTP 403 Forbidden) for {config.auth}")
        return RegistryAuthError(config.redact(f"{config} {detail}"), url=self.url,
                                 status=status, subject=subject)

    def __repr__(self) -> str:
        return f"RegistryClient({self.url!r})"


def avro_schema(raw: Any) -> Schema:
    """A registry ``Schema`` of type AVRO for a schema given as a dict or JSON text."""
    text = raw if isinstance(raw, str) else json.dumps(raw, separators=(",", ":"))
    return Schema(text, "AVRO")


def _server_reason(error: SchemaRegistryError) -> str:
    """The registry's own message, cut short (Apicurio prefixes a Java class name)."""
    text = str(error.error_message or "").strip() or "(no reason given)"
    for prefix in ("io.apicurio.registry.rules.violation.RuleViolationException: ",):
        text = text.removeprefix(prefix)
    return text[:300] + ("..." if len(text) > 300 else "")
