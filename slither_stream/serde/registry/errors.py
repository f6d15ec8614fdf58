"""What can go wrong between a pipe and its schema registry, as typed errors.

Every message names the registry by its URL without credentials, and has been passed
through :meth:`RegistryConfig.redact`, so no secret is ever shown. Registry error
codes (Confluent's, which Apicurio's compatible API also uses: 40401 subject not
found, 40403 schema not found, 409 incompatible, 42201 invalid schema) are kept in
``code``, the HTTP status in ``status``.
"""

from __future__ import annotations

from slither_stream.errors import ConfigError, SlitherError


class RegistryError(SlitherError):
    """A schema registry refused or failed a request.

    ``url`` is the registry (no credentials), ``status`` the HTTP status and ``code``
    the registry's error code when it answered, ``subject`` the subject concerned and
    ``detail`` the registry's own message.
    """

    def __init__(self, message: str, *, url: str, status: int | None = None,
                 code: int | None = None, subject: str | None = None,
                 detail: str = "") -> None:
        super().__init__(message)
        self.url = url
        self.status = status
        self.code = code
        self.subject = subject
        self.detail = detail


class RegistryUnavailableError(RegistryError):
    """The registry did not answer (connection refused, timeout, 5xx) within the
    retry budget: ``connect_timeout`` at start, ``outage_timeout`` while running."""


class RegistryAuthError(RegistryError, ConfigError):
    """The registry refused the credentials (HTTP 401) or the access (HTTP 403)."""


class SchemaNotRegisteredError(RegistryError, ConfigError):
    """A pipe's schema is not a version of its subject and ``auto_register`` is off."""


class IncompatibleSchemaError(RegistryError, ConfigError):
    """A schema breaks its subject's compatibility rule; ``version`` is the version
    it was checked against and ``reason`` says which field breaks it."""

    def __init__(self, message: str, *, url: str, subject: str, version: int | None,
                 reason: str, status: int | None = None, code: int | None = None) -> None:
        super().__init__(message, url=url, status=status, code=code, subject=subject)
        self.version = version
        self.reason = reason
