"""Where client security settings come from: a properties file and the environment.

A Kafka log's clients take librdkafka properties from, lowest precedence first:

1. a **properties file** (``--kafka-config FILE``, ``open_log(url,
   kafka_config=FILE)`` or ``$SLITHER_KAFKA_CONFIG``), ``name=value`` lines as Kafka's
   tools read ``--command-config`` (``#`` and ``!`` comments, ``name: value`` too);
2. **environment variables** (:data:`ENV_PROPERTIES`: ``SLITHER_KAFKA_SASL_PASSWORD``
   and friends), so a secret can come from the environment a deployment injects;
3. the log URL's query and the ``config`` option (see :mod:`slither_stream.log`).

The URL never has to carry a secret: ``kafka://broker:9093`` plus the file.
Properties are librdkafka's (``ssl.ca.location``, not Java's
``ssl.truststore.location``); a Java-only name gets an error that says what to use
instead. Files a property names (CA, certificate, key, keystore) are checked to
exist, and a client certificate to be valid now, so those mistakes fail at once
with the path in the message rather than as a TLS handshake failure later.

:func:`principal` says which Kafka principal the settings authenticate as, for the
messages of authorization errors.
"""

from __future__ import annotations

import datetime
import os
import ssl
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from slither_stream.errors import ConfigError
from slither_stream.log import KAFKA_CONFIG_ENV

ENV_PROPERTIES: dict[str, str] = {
    "SLITHER_KAFKA_SECURITY_PROTOCOL": "security.protocol",
    "SLITHER_KAFKA_SASL_MECHANISM": "sasl.mechanism",
    "SLITHER_KAFKA_SASL_USERNAME": "sasl.username",
    "SLITHER_KAFKA_SASL_PASSWORD": "sasl.password",
    "SLITHER_KAFKA_SSL_CA_LOCATION": "ssl.ca.location",
    "SLITHER_KAFKA_SSL_CERTIFICATE_LOCATION": "ssl.certificate.location",
    "SLITHER_KAFKA_SSL_KEY_LOCATION": "ssl.key.location",
    "SLITHER_KAFKA_SSL_KEY_PASSWORD": "ssl.key.password",
    "SLITHER_KAFKA_SSL_ENDPOINT_IDENTIFICATION_ALGORITHM":
        "ssl.endpoint.identification.algorithm",
    "SLITHER_KAFKA_SASL_OAUTHBEARER_METHOD": "sasl.oauthbearer.method",
    "SLITHER_KAFKA_SASL_OAUTHBEARER_CLIENT_ID": "sasl.oauthbearer.client.id",
    "SLITHER_KAFKA_SASL_OAUTHBEARER_CLIENT_SECRET": "sasl.oauthbearer.client.secret",
    "SLITHER_KAFKA_SASL_OAUTHBEARER_TOKEN_ENDPOINT_URL": "sasl.oauthbearer.token.endpoint.url",
    "SLITHER_KAFKA_SASL_OAUTHBEARER_SCOPE": "sasl.oauthbearer.scope",
}
"""Environment variables that set one librdkafka property each (over the file)."""

FILE_PROPERTIES = ("ssl.ca.location", "ssl.certificate.location", "ssl.key.location",
                   "ssl.keystore.location", "ssl.crl.location")
"""Properties naming a file that must exist."""

_JAVA_ONLY = {
    "sasl.jaas.config": "sasl.username and sasl.password (SCRAM, PLAIN) or the "
                        "sasl.oauthbearer.* properties",
    "ssl.truststore.location": "ssl.ca.location (the CA certificates, PEM)",
    "ssl.truststore.password": "nothing (ssl.ca.location is a PEM file)",
    "ssl.truststore.type": "nothing (ssl.ca.location is a PEM file)",
    "ssl.keystore.type": "nothing (ssl.keystore.location is PKCS#12; or PEM files in "
                         "ssl.certificate.location and ssl.key.location)",
    "sasl.login.callback.handler.class": "sasl.oauthbearer.method=oidc and its "
                                         "sasl.oauthbearer.* properties",
}
"""Java client properties librdkafka does not know, and what to use instead."""

_FIXED_BY_URL = ("bootstrap.servers",)


def read_properties_file(path: str | os.PathLike[str]) -> dict[str, str]:
    """The ``name=value`` (or ``name: value``) lines of a properties file.

    Errors name the file and line but never the value (it may be a secret).
    """
    source = Path(path).expanduser()
    try:
        text = source.read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError(f"cannot read the Kafka client properties file {str(source)!r}: "
                          f"{error.strerror or error}") from error
    values: dict[str, str] = {}
    pending = ""
    for number, raw in enumerate(text.splitlines(), start=1):
        line = pending + raw.strip()
        pending = ""
        if not line or line.startswith(("#", "!")):
            continue
        if line.endswith("\\") and not line.endswith("\\\\"):
            pending = line[:-1]
            continue
        separators = [at for at in (line.find("="), line.find(":")) if at > 0]
        if not separators:
            raise ConfigError(f"{source}:{number}: expected name=value (a librdkafka "
                              "property)")
        at = min(separators)
        name, value = line[:at].strip(), line[at + 1:].strip()
        if name in _JAVA_ONLY:
            raise ConfigError(f"{source}:{number}: {name} is a Java client property that "
                              f"librdkafka does not have; use {_JAVA_ONLY[name]}")
        if name in _FIXED_BY_URL:
            raise ConfigError(f"{source}:{number}: {name} comes from the log URL "
                              "(kafka://host:port); remove it from the file")
        values[name] = value
    return values


def environment_properties(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The librdkafka properties set by :data:`ENV_PROPERTIES` variables."""
    env = os.environ if environ is None else environ
    return {prop: env[name] for name, prop in ENV_PROPERTIES.items() if env.get(name)}


def configured_properties(config_file: str | os.PathLike[str] | None,
                          environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """File properties (``config_file``, else ``$SLITHER_KAFKA_CONFIG``) under the
    environment's."""
    env = os.environ if environ is None else environ
    chosen = config_file if config_file is not None else env.get(KAFKA_CONFIG_ENV) or None
    found = read_properties_file(chosen) if chosen is not None else {}
    found.update(environment_properties(env))
    return found


def check_files(config: Mapping[str, Any]) -> None:
    """Every file a property names exists, and a client certificate is valid now."""
    for name in FILE_PROPERTIES:
        value = config.get(name)
        if value is None or value == "" or (name == "ssl.ca.location" and value == "probe"):
            continue
        if not Path(str(value)).expanduser().is_file():
            raise ConfigError(f"Kafka client property {name}: no such file {str(value)!r}")
    certificate = config.get("ssl.certificate.location")
    if certificate:
        _check_validity(Path(str(certificate)).expanduser())


def _check_validity(path: Path) -> None:
    """Raise if the PEM certificate at ``path`` is expired or not valid yet."""
    try:
        decoded = ssl._ssl._test_decode_cert(str(path))  # type: ignore[attr-defined]
    except (AttributeError, ssl.SSLError, OSError):
        return  # not PEM, or no decoder in this Python: the TLS handshake will say
    now = datetime.datetime.now(datetime.UTC).timestamp()
    not_after = ssl.cert_time_to_seconds(decoded["notAfter"])
    not_before = ssl.cert_time_to_seconds(decoded["notBefore"])
    if now > not_after:
        raise ConfigError(f"the client certificate {str(path)!r} (ssl.certificate.location) "
                          f"expired on {decoded['notAfter']}: renew it")
    if now < not_before:
        raise ConfigError(f"the client certificate {str(path)!r} (ssl.certificate.location) "
                          f"is not valid before {decoded['notBefore']}")


_DN_NAMES = {"commonName": "CN", "organizationalUnitName": "OU", "organizationName": "O",
             "localityName": "L", "stateOrProvinceName": "ST", "countryName": "C"}


def principal(config: Mapping[str, Any]) -> str:
    """The Kafka principal ``config`` authenticates as (as the broker names it, for
    messages): ``User:NAME`` for SASL PLAIN and SCRAM, the certificate's subject for
    mutual TLS, ``User:ANONYMOUS`` without authentication."""
    protocol = str(config.get("security.protocol", "plaintext")).upper()
    mechanism = str(config.get("sasl.mechanism", config.get("sasl.mechanisms", "GSSAPI")))
    if protocol.startswith("SASL"):
        if mechanism.upper() in ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"):
            return f"User:{config.get('sasl.username', '?')}"
        if mechanism.upper() == "OAUTHBEARER":
            unsecured = _unsecured_jwt_principal(config)
            if unsecured is not None:
                return f"User:{unsecured}"
            client = config.get("sasl.oauthbearer.client.id")
            return ("the OAUTHBEARER token's subject"
                    + (f" (client id {client})" if client else ""))
        service = config.get("sasl.kerberos.principal", "kafkaclient")
        return f"the Kerberos principal {service}"
    if protocol == "SSL" and config.get("ssl.certificate.location"):
        subject = _certificate_subject(Path(str(config["ssl.certificate.location"])))
        return f"User:{subject}" if subject else "the client certificate's subject"
    return "User:ANONYMOUS"


def _unsecured_jwt_principal(config: Mapping[str, Any]) -> str | None:
    """The ``principal=NAME`` of ``sasl.oauthbearer.config`` when librdkafka makes
    its own unsecured JWT (``enable.sasl.oauthbearer.unsecure.jwt``): the token's
    subject, which a broker validating unsecured tokens takes as ``User:NAME``."""
    if str(config.get("enable.sasl.oauthbearer.unsecure.jwt", "false")).lower() != "true":
        return None
    for part in str(config.get("sasl.oauthbearer.config", "")).split():
        name, _, value = part.partition("=")
        if name == "principal" and value:
            return value
    return None


def _certificate_subject(path: Path) -> str | None:
    """The subject of a PEM certificate as Kafka writes it (``CN=a,OU=b``)."""
    try:
        decoded = ssl._ssl._test_decode_cert(str(path.expanduser()))  # type: ignore[attr-defined]
    except (AttributeError, ssl.SSLError, OSError):
        return None
    parts = [f"{_DN_NAMES.get(key, key)}={value}"
             for rdn in reversed(decoded.get("subject", ())) for key, value in rdn]
    return ",".join(parts) or None
