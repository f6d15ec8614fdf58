"""Where the schema registry is and how to talk to it: :class:`RegistryConfig`.

One place for every option, validated where it enters. A config comes from code
(``RegistryConfig(url=...)`` or ``schema_registry="https://..."`` on a pipe), from the
environment (:meth:`RegistryConfig.from_env`) or from a TOML file named by
``$SLITHER_SCHEMA_REGISTRY_CONFIG`` (:meth:`RegistryConfig.from_file`).

Secrets -- the basic-auth ``user_info`` (``user:password``, also accepted as userinfo in
the URL), the ``bearer_token`` and the TLS ``key_password`` -- are kept out of every
``repr``, of :meth:`RegistryConfig.describe`, of :attr:`RegistryConfig.display_url`
and of every error message (:meth:`RegistryConfig.redact`): a config can be printed,
logged or shown by ``slither describe`` without leaking them. The URL handed to the
HTTP client never carries userinfo either (the client library logs request URLs).
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Literal, cast
from urllib.parse import unquote, urlsplit, urlunsplit

from slither_stream.errors import ConfigError

SubjectStrategy = Literal["topic", "record", "topic_record"]
"""How a subject is named: ``topic`` (``<topic>-value``, Confluent's default),
``record`` (the record's full name) or ``topic_record`` (``<topic>-<full name>``)."""
SUBJECT_STRATEGIES: tuple[SubjectStrategy, ...] = ("topic", "record", "topic_record")

URL_ENV = "SLITHER_SCHEMA_REGISTRY"
"""The environment variable with the registry URL (registry mode for every pipe)."""
USER_INFO_ENV = "SLITHER_SCHEMA_REGISTRY_USER_INFO"
"""Basic-auth credentials, ``user:password``."""
TOKEN_ENV = "SLITHER_SCHEMA_REGISTRY_TOKEN"
"""A bearer token sent as ``Authorization: Bearer <token>``."""
CA_ENV = "SLITHER_SCHEMA_REGISTRY_CA"
"""A CA bundle (PEM file or directory) that verifies the registry's certificate."""
CONFIG_ENV = "SLITHER_SCHEMA_REGISTRY_CONFIG"
"""A TOML file with any :class:`RegistryConfig` field (secrets included)."""

REDACTED = "***"
_SECRET_FIELDS = ("user_info", "bearer_token", "key_password")


@dataclass(frozen=True)
class RegistryConfig:
    """How to reach a Confluent-compatible schema registry (see the module docstring).

    ``url`` may list several registries separated by commas (tried in turn). Errors
    raise ConfigError naming the option, never its secret value.
    """

    url: str
    user_info: str | None = field(default=None, repr=False)
    """Basic auth, ``user:password``."""
    bearer_token: str | None = field(default=None, repr=False)
    """Static bearer token."""
    ca_location: str | None = None
    """PEM CA file or directory that verifies the registry's TLS certificate."""
    certificate_location: str | None = None
    """Client certificate (PEM) for mutual TLS."""
    key_location: str | None = None
    """Client private key (PEM) for mutual TLS."""
    key_password: str | None = field(default=None, repr=False)
    """Password of ``key_location``."""
    verify: bool = True
    """Verify the registry's certificate (switch off only for a throw-away test)."""
    subject_strategy: SubjectStrategy = "topic"
    """How subjects are named (:data:`SubjectStrategy`)."""
    auto_register: bool = False
    """Register a pipe's schema when its subject has no such version. Off: the schema
    must be registered beforehand (``slither schemas register``), and a missing one is
    an error at start naming the subject."""
    timeout: float = 10.0
    """Seconds per HTTP request."""
    connect_timeout: float = 15.0
    """Seconds of retries (with backoff) before an unreachable registry is an error at
    start."""
    outage_timeout: float = 120.0
    """Seconds a running stage retries (with backoff) to fetch a schema id it has not
    seen while the registry is unreachable, before it stops with an error (its
    uncommitted records are read again on restart: nothing is lost). Keep it below
    the consumer's ``max.poll.interval.ms``."""
    cache_capacity: int = 1000
    """Schemas kept by the client's cache."""

    def __post_init__(self) -> None:
        if not isinstance(self.url, str) or not self.url.strip():
            raise ConfigError("schema registry: url must be an http(s) URL")
        urls, user_info = _split_urls(self.url)
        if user_info is not None:
            if self.user_info is not None:
                raise ConfigError("schema registry: credentials given both in the URL and "
                                  "as user_info; keep one")
            object.__setattr__(self, "user_info", user_info)
        object.__setattr__(self, "url", ",".join(urls))
        if self.user_info is not None and ":" not in self.user_info:
            raise ConfigError("schema registry: user_info must be user:password")
        if self.user_info is not None and self.bearer_token is not None:
            raise ConfigError("schema registry: use basic auth (user_info) or a bearer "
                              "token, not both")
        if self.subject_strategy not in SUBJECT_STRATEGIES:
            raise ConfigError(f"schema registry: subject_strategy must be one of "
                              f"{', '.join(SUBJECT_STRATEGIES)}, got {self.subject_strategy!r}")
        for name in ("timeout", "connect_timeout", "outage_timeout"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                raise ConfigError(f"schema registry: {name} must be a positive number of "
                                  f"seconds, got {value!r}")
        for name in ("verify", "auto_register"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"schema registry: {name} must be true or false")
        if (self.key_location or self.key_password) and not self.certificate_location:
            raise ConfigError("schema registry: key_location and key_password go with "
                              "certificate_location")

    # -- where configs come from ------------------------------------------------------

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> RegistryConfig | None:
        """The config the environment describes, or None when it names no registry.

        ``$SLITHER_SCHEMA_REGISTRY_CONFIG`` (a TOML file) is read first; the other
        ``SLITHER_SCHEMA_REGISTRY*`` variables override its fields.
        """
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        path = env.get(CONFIG_ENV, "").strip()
        if path:
            values.update(_read_file(Path(path)))
        for variable, name in ((URL_ENV, "url"), (USER_INFO_ENV, "user_info"),
                               (TOKEN_ENV, "bearer_token"), (CA_ENV, "ca_location")):
            given = env.get(variable, "").strip()
            if given:
                values[name] = given
        if not values.get("url"):
            if values:
                raise ConfigError(f"schema registry: {CONFIG_ENV} or the "
                                  f"SLITHER_SCHEMA_REGISTRY_* variables give no url "
                                  f"(set {URL_ENV})")
            return None
        return cls.of(values)

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> RegistryConfig:
        """The config in a TOML file: ``url = "..."`` plus any other field."""
        return cls.of(_read_file(Path(path)))

    @classmethod
    def of(cls, values: dict[str, Any]) -> RegistryConfig:
        """A config from a mapping of field names (unknown names are refused)."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(f"schema registry: unknown option(s) {', '.join(unknown)}; "
                              f"known: {', '.join(sorted(known))}")
        if "url" not in values:
            raise ConfigError("schema registry: url is required")
        return cls(**values)

    def with_options(self, **changes: Any) -> RegistryConfig:
        """A copy with some fields changed (validated again)."""
        return replace(self, **changes)

    # -- what may be shown ------------------------------------------------------------

    @property
    def urls(self) -> tuple[str, ...]:
        """The registry URLs, without credentials."""
        return tuple(self.url.split(","))

    @property
    def display_url(self) -> str:
        """The URL(s) as shown in errors and ``describe`` (never with credentials)."""
        return self.url

    @property
    def auth(self) -> str:
        """``basic (user NAME)``, ``bearer token`` or ``none``: what ``describe`` says."""
        if self.user_info is not None:
            return f"basic (user {self.user_info.split(':', 1)[0]})"
        return "bearer token" if self.bearer_token is not None else "none"

    def describe(self) -> dict[str, Any]:
        """A JSON-friendly view with no secret in it."""
        return {"url": self.display_url, "auth": self.auth,
                "tls": self.url.startswith("https") or any(u.startswith("https")
                                                            for u in self.urls),
                "subject_strategy": self.subject_strategy,
                "auto_register": self.auto_register}

    def redact(self, text: str) -> str:
        """``text`` with every secret of this config (and its parts) replaced by ***."""
        secrets: list[str] = []
        for name in _SECRET_FIELDS:
            value = getattr(self, name)
            if value:
                secrets.append(value)
                if name == "user_info":
                    secrets.append(value.split(":", 1)[1])
        for secret in sorted(secrets, key=len, reverse=True):
            if secret:
                text = text.replace(secret, REDACTED)
        return text

    # -- for the client library -------------------------------------------------------

    def client_conf(self) -> dict[str, Any]:
        """The ``SchemaRegistryClient`` configuration (holds the secrets: never print it).

        The client's own retries are off: :class:`RegistryClient` retries with its own
        bounds, so start-up and outages are handled in one place.
        """
        conf: dict[str, Any] = {"url": self.url, "timeout": self.timeout,
                                "cache.capacity": self.cache_capacity, "max.retries": 0}
        if self.user_info is not None:
            conf["basic.auth.user.info"] = self.user_info
        if self.bearer_token is not None:
            conf["bearer.auth.credentials.source"] = "STATIC_TOKEN"
            conf["bearer.auth.token"] = self.bearer_token
            conf["bearer.auth.logical.cluster"] = ""  # Confluent Cloud only; required key
        if not self.verify:
            conf["ssl.ca.location"] = False
        elif self.ca_location is not None:
            conf["ssl.ca.location"] = self.ca_location
        if self.certificate_location is not None:
            conf["ssl.certificate.location"] = self.certificate_location
        if self.key_location is not None:
            conf["ssl.key.location"] = self.key_location
        if self.key_password is not None:
            conf["ssl.key.password"] = self.key_password
        return conf

    def __str__(self) -> str:
        return f"schema registry {self.display_url}"


def resolve_config(value: RegistryConfig | str | None) -> RegistryConfig | None:
    """A pipe's ``schema_registry=`` option as a config: a config as is, a URL string
    (credentials and TLS from the environment), or None for the environment's."""
    if isinstance(value, RegistryConfig):
        return value
    if value is None:
        return RegistryConfig.from_env()
    if not isinstance(value, str):
        raise ConfigError(f"schema_registry must be a URL or a RegistryConfig, "
                          f"not {type(value).__name__}")
    from_env = RegistryConfig.from_env({k: v for k, v in os.environ.items() if k != URL_ENV}
                                       | {URL_ENV: value})
    assert from_env is not None
    return from_env


def _split_urls(text: str) -> tuple[list[str], str | None]:
    """The URLs without userinfo, and the userinfo the first one carried (if any)."""
    urls: list[str] = []
    user_info: str | None = None
    for raw in text.split(","):
        url = raw.strip().rstrip("/")
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            shown = urlunsplit(parts._replace(netloc=parts.hostname or "")) if parts.netloc \
                else url
            raise ConfigError(f"schema registry: {shown!r} is not an http(s) URL")
        if parts.username is not None or parts.password is not None:
            if parts.password is None:
                raise ConfigError("schema registry: URL userinfo must be user:password")
            user_info = f"{unquote(parts.username or '')}:{unquote(parts.password)}"
            netloc = parts.hostname + (f":{parts.port}" if parts.port else "")
            url = urlunsplit(parts._replace(netloc=netloc))
        urls.append(url)
    return urls, user_info


def _read_file(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            document = tomllib.load(handle)
    except OSError as error:
        raise ConfigError(f"schema registry config {path}: cannot read it: "
                          f"{error.strerror}") from error
    except tomllib.TOMLDecodeError as error:
        # The parser's message quotes no value, only where the syntax broke.
        raise ConfigError(f"schema registry config {path} is not valid TOML: {error}") from error
    section = document.get("schema_registry", document)
    if not isinstance(section, dict):
        raise ConfigError(f"schema registry config {path}: [schema_registry] must be a table")
    return cast(dict[str, Any], section)
