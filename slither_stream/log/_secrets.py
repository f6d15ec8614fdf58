"""Keeping client secrets out of everything slither-stream writes.

Passwords, key passphrases and OAuth client secrets reach the Kafka clients through
a properties file, environment variables or (discouraged) the log URL's query.
They must never come back out: not in log lines, error messages, ``describe()``,
the CLI's output, metrics labels or dead-letter headers. Three tools, used at the
places that print or store text:

* :func:`redact_config` and :func:`redact_url` mask the values of secret
  properties (:func:`is_secret`) in a mapping or a ``kafka://`` URL;
* :func:`remember` records a secret value when a client configuration is built,
  and :func:`scrub` replaces every remembered value in a text with
  :data:`REDACTED`: error messages, dead-letter headers and CLI errors pass through
  it;
* once a secret is remembered, every log record of the process is scrubbed (a
  log-record factory, installed once), so a secret that reaches a message anyway
  (an exception's text, a third-party library's line) is masked before any handler
  formats it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit, urlunsplit

REDACTED = "[redacted]"
"""What a secret value is replaced with."""

SECRET_PROPERTIES = frozenset({
    "sasl.password",
    "sasl.oauthbearer.client.secret",
    "sasl.oauthbearer.config",  # may carry a token or a secret (librdkafka's own)
    "sasl.jaas.config",  # Java clients' form: holds the password
    "ssl.key.password",
    "ssl.key.pem",
    "ssl_key",
    "ssl.keystore.password",
    "ssl.truststore.password",
})
"""librdkafka properties whose values are secrets (any name containing
``password`` or ``secret`` is treated as one too)."""

MIN_SCRUBBED_LENGTH = 4
"""Shorter values are not scrubbed from free text (they would mask ordinary
words); they are still redacted wherever a configuration is shown."""

_lock = threading.Lock()
_remembered: set[str] = set()
_factory_installed = False


def is_secret(name: str) -> bool:
    """Whether the librdkafka property ``name`` holds a secret."""
    lowered = name.lower()
    return lowered in SECRET_PROPERTIES or "password" in lowered or "secret" in lowered


def redact_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """``config`` with the value of every secret property replaced by
    :data:`REDACTED` (and callables, such as log callbacks, named by type)."""
    shown: dict[str, Any] = {}
    for name, value in config.items():
        if is_secret(name):
            shown[name] = REDACTED
        elif callable(value):
            shown[name] = f"<{type(value).__name__}>"
        else:
            shown[name] = value
    return shown


def redact_url(url: str) -> str:
    """``url`` with the values of secret query properties and any password in
    its user info replaced by :data:`REDACTED`."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, hosts = netloc.rpartition("@")
        user = userinfo.partition(":")[0]
        netloc = f"{user}:{REDACTED}@{hosts}" if ":" in userinfo else netloc
    query = parts.query
    if query:
        try:
            pairs = parse_qsl(query, keep_blank_values=True)
        except ValueError:
            pairs = []
        if any(is_secret(name) for name, _ in pairs):
            query = "&".join(
                f"{quote(name, safe='.')}=" + (REDACTED if is_secret(name)
                                               else quote(value, safe=".:/,"))
                for name, value in pairs)
    if netloc == parts.netloc and query == parts.query:
        return url  # nothing secret: keep the spelling (``embedded:///tmp/x``) as given
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def remember(config: Mapping[str, Any]) -> None:
    """Remember the values of ``config``'s secret properties, so :func:`scrub` and
    every later log record mask them."""
    found = {str(value) for name, value in config.items()
             if is_secret(name) and isinstance(value, str | bytes | int)
             and len(str(value)) >= MIN_SCRUBBED_LENGTH}
    if not found:
        return
    with _lock:
        _remembered.update(found)
    _install_log_scrubbing()


def scrub(text: str) -> str:
    """``text`` with every remembered secret value replaced by :data:`REDACTED`."""
    if not _remembered or not text:
        return text
    # Longest first: a secret that contains another is masked whole.
    for secret in sorted(_remembered, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text


def _install_log_scrubbing() -> None:
    """Wrap the log-record factory once: each record's message (and its
    exception's text) is scrubbed as the record is made."""
    global _factory_installed
    with _lock:
        if _factory_installed:
            return
        _factory_installed = True
    make = logging.getLogRecordFactory()

    def scrubbed_record(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = make(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: logging reports it itself later
            return record
        clean = scrub(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and record.exc_info[0] is not None:
            text = logging.Formatter().formatException(record.exc_info)
            record.exc_text = scrub(text)
        return record

    logging.setLogRecordFactory(scrubbed_record)
