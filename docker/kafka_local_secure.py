"""The SASL_SSL side of ``docker/kafka-local``: certificates, credentials, broker settings.

``kafka-local start --secure`` runs the same single-node KRaft broker with one client
listener, ``SASL_SSL`` (SCRAM-SHA-512 over TLS, client certificates required), the
controller listener on mutual TLS, and ``StandardAuthorizer`` with
``allow.everyone.if.no.acl.found=false``: a principal can do nothing until an ACL
allows it, except the super user ``User:admin`` (for setup) and the broker itself
(``User:CN=broker``, its certificate's subject). The listener also takes
``OAUTHBEARER`` with *unsecured* JWTs (Kafka's default validator, which checks a
token's form and expiry but no signature; for trying OAUTHBEARER clients on one
machine, never for production): a client with ``enable.sasl.oauthbearer.unsecure.jwt=true``
and ``sasl.oauthbearer.config=principal=NAME`` is ``User:NAME``.

Everything is made once per data directory, in ``DATA/secure/``, and kept across
restarts (a restarted broker has the same CA, passwords and port):

* ``ca.pem``: the CA clients trust; ``broker.p12``: the broker's key and certificate
  (subject ``CN=broker``, SANs ``localhost`` and ``127.0.0.1``);
* ``client.pem`` / ``client.key`` (key encrypted with ``ssl.key.password``): a client
  certificate for mutual TLS, signed by the CA;
* for fault tests, ``expired-client.pem`` / ``expired-client.key`` (a certificate of
  the same CA that expired yesterday), ``rogue-ca.pem`` (a CA nobody trusts) and
  ``rogue-client.pem`` / ``rogue-client.key`` (signed by it);
* ``admin.properties``: librdkafka properties of the super user (for
  ``slither --kafka-config`` and confluent-kafka); ``admin-java.properties``: the same
  for Kafka's own tools (``kafka-acls.sh --command-config``);
* ``secrets.json``: the generated passwords.

Certificates are generated with the ``cryptography`` package (in the ``dev`` extra),
in well under a second; no JVM start, no network. SCRAM credentials are written into
the KRaft metadata when the storage is formatted (``kafka-storage format
--add-scram``), so they exist before the broker first accepts a connection; more
users can be added later with the admin API (``AlterUserScramCredentials``).

Readiness over SASL_SSL is checked by :func:`secure_connect`: a TLS handshake that
verifies the broker's certificate against ``ca.pem`` (so another broker on the port
is never mistaken for ours) and a SCRAM-SHA-512 exchange, after which the caller's
plain Metadata probe runs on the authenticated connection.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import hmac
import ipaddress
import json
import secrets
import socket
import ssl
import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MECHANISM = "SCRAM-SHA-512"
OAUTH_MECHANISM = "OAUTHBEARER"
ADMIN_USER = "admin"
BROKER_SUBJECT = "CN=broker"
CA_DAYS = 3650

API_SASL_HANDSHAKE = 17
API_SASL_AUTHENTICATE = 36


class SecureSetupError(Exception):
    """Certificates or credentials cannot be made; the message says what to do."""


@dataclass(frozen=True)
class SecureFiles:
    """The TLS material and credentials of one secured broker (under ``DATA/secure``)."""

    root: Path

    def path(self, name: str) -> Path:
        """``DATA/secure/NAME`` (``ca.pem``, ``client.key``, ``admin.properties``...)."""
        return self.root / name

    def secrets(self) -> dict[str, str]:
        data: dict[str, str] = json.loads(self.path("secrets.json").read_text())
        return data


# -- certificates ---------------------------------------------------------------------


def _crypto() -> Any:
    try:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.hazmat.primitives.serialization import pkcs12
        from cryptography.x509.oid import NameOID
    except ImportError as error:
        raise SecureSetupError(
            "--secure generates certificates with the 'cryptography' package: run "
            "kafka-local with the project's .venv (scripts/bootstrap dev) or "
            f"pip install cryptography ({error})") from None
    return x509, hashes, serialization, ec, pkcs12, NameOID


def _make_cert(subject_cn: str, *, issuer: tuple[Any, Any] | None, ca: bool,
               days: int = CA_DAYS, expired: bool = False,
               sans: tuple[str, ...] = ()) -> tuple[Any, Any]:
    """A new EC P-256 key and its certificate; ``issuer`` is (cert, key), None for
    self-signed."""
    x509, hashes, _serialization, ec, _pkcs12, name_oid = _crypto()
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(name_oid.COMMON_NAME, subject_cn)])
    now = datetime.datetime.now(datetime.UTC)
    if expired:
        start, end = now - datetime.timedelta(days=2), now - datetime.timedelta(days=1)
    else:
        start, end = now - datetime.timedelta(minutes=5), now + datetime.timedelta(days=days)
    issuer_cert, issuer_key = issuer if issuer is not None else (None, key)
    builder = (x509.CertificateBuilder()
               .subject_name(subject)
               .issuer_name(issuer_cert.subject if issuer_cert is not None else subject)
               .public_key(key.public_key())
               .serial_number(x509.random_serial_number())
               .not_valid_before(start).not_valid_after(end)
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if ca:
        builder = builder.add_extension(x509.KeyUsage(
            digital_signature=True, content_commitment=False, key_encipherment=False,
            data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
            encipher_only=False, decipher_only=False), critical=True)
    if sans:
        names = []
        for san in sans:
            try:
                names.append(x509.IPAddress(ipaddress.ip_address(san)))
            except ValueError:
                names.append(x509.DNSName(san))
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return key, builder.sign(issuer_key, hashes.SHA256())


def _pem_cert(cert: Any) -> bytes:
    _x509, _hashes, serialization, _ec, _pkcs12, _oid = _crypto()
    return bytes(cert.public_bytes(serialization.Encoding.PEM))


def _pem_key(key: Any, password: str | None) -> bytes:
    _x509, _hashes, serialization, _ec, _pkcs12, _oid = _crypto()
    encryption = (serialization.BestAvailableEncryption(password.encode()) if password
                  else serialization.NoEncryption())
    return bytes(key.private_bytes(serialization.Encoding.PEM,
                                   serialization.PrivateFormat.PKCS8, encryption))


def _write(path: Path, data: bytes | str) -> None:
    """Write a file readable by its owner only (it may hold a key or a password)."""
    path.touch(mode=0o600, exist_ok=True)
    path.chmod(0o600)
    if isinstance(data, str):
        path.write_text(data)
    else:
        path.write_bytes(data)


def ensure_material(files: SecureFiles) -> None:
    """Make the CA, certificates, passwords and client property files once."""
    if files.path("secrets.json").exists():
        return
    _x509, _hashes, serialization, _ec, pkcs12, _oid = _crypto()
    files.root.mkdir(parents=True, exist_ok=True)
    files.root.chmod(0o700)
    passwords = {name: secrets.token_hex(16) for name in
                 ("admin_password", "keystore_password", "client_key_password")}
    ca_key, ca_cert = _make_cert("slither-kafka-local-ca", issuer=None, ca=True)
    _write(files.path("ca.pem"), _pem_cert(ca_cert))
    broker_key, broker_cert = _make_cert(BROKER_SUBJECT.removeprefix("CN="),
                                         issuer=(ca_cert, ca_key), ca=False,
                                         sans=("localhost", "127.0.0.1"))
    _write(files.path("broker.p12"), pkcs12.serialize_key_and_certificates(
        b"broker", broker_key, broker_cert, [ca_cert],
        serialization.BestAvailableEncryption(passwords["keystore_password"].encode())))
    for stem, expired in (("client", False), ("expired-client", True)):
        key, cert = _make_cert(stem, issuer=(ca_cert, ca_key), ca=False,
                               days=CA_DAYS, expired=expired)
        _write(files.path(f"{stem}.pem"), _pem_cert(cert))
        _write(files.path(f"{stem}.key"), _pem_key(key, passwords["client_key_password"]))
    rogue_key, rogue_cert = _make_cert("rogue-ca", issuer=None, ca=True)
    _write(files.path("rogue-ca.pem"), _pem_cert(rogue_cert))
    key, cert = _make_cert("rogue-client", issuer=(rogue_cert, rogue_key), ca=False)
    _write(files.path("rogue-client.pem"), _pem_cert(cert))
    _write(files.path("rogue-client.key"), _pem_key(key, passwords["client_key_password"]))
    write_client_properties(files, passwords)
    _write(files.path("secrets.json"), json.dumps(passwords, indent=2) + "\n")


def client_properties(files: SecureFiles, user: str, password: str,
                      key_password: str) -> dict[str, str]:
    """librdkafka properties of a SCRAM-SHA-512 user with the client certificate."""
    return {
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": MECHANISM,
        "sasl.username": user,
        "sasl.password": password,
        "ssl.ca.location": str(files.path("ca.pem")),
        "ssl.certificate.location": str(files.path("client.pem")),
        "ssl.key.location": str(files.path("client.key")),
        "ssl.key.password": key_password,
        "ssl.endpoint.identification.algorithm": "https",
    }


def write_client_properties(files: SecureFiles, passwords: dict[str, str]) -> None:
    admin = client_properties(files, ADMIN_USER, passwords["admin_password"],
                              passwords["client_key_password"])
    header = ("# librdkafka properties of the super user of the kafka-local SASL_SSL "
              "broker\n# (slither --kafka-config FILE, or confluent-kafka). Setup only: "
              "give applications\n# their own SCRAM user and ACLs.\n")
    _write(files.path("admin.properties"), header + "".join(f"{k}={v}\n" for k, v in admin.items()))
    java = {
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": MECHANISM,
        "sasl.jaas.config": ("org.apache.kafka.common.security.scram.ScramLoginModule "
                             f'required username="{ADMIN_USER}" '
                             f'password="{passwords["admin_password"]}";'),
        "ssl.truststore.type": "PEM",
        "ssl.truststore.location": str(files.path("ca.pem")),
        "ssl.keystore.type": "PKCS12",
        "ssl.keystore.location": str(files.path("broker.p12")),
        "ssl.keystore.password": passwords["keystore_password"],
    }
    _write(files.path("admin-java.properties"),
           "# Kafka's own tools (kafka-acls.sh --command-config FILE), as the super user\n"
           + "".join(f"{k}={v}\n" for k, v in java.items()))


# -- broker settings --------------------------------------------------------------------


def server_overrides(files: SecureFiles, port: int, controller_port: int) -> dict[str, str]:
    """Broker properties for the SASL_SSL listener, mTLS controller and ACLs."""
    passwords = files.secrets()
    jaas = ("org.apache.kafka.common.security.scram.ScramLoginModule required "
            f'username="{ADMIN_USER}" password="{passwords["admin_password"]}";')
    return {
        "listeners": f"SASL_SSL://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}",
        "advertised.listeners": f"SASL_SSL://127.0.0.1:{port}",
        "listener.security.protocol.map": "SASL_SSL:SASL_SSL,CONTROLLER:SSL",
        "inter.broker.listener.name": "SASL_SSL",
        "sasl.enabled.mechanisms": f"{MECHANISM},{OAUTH_MECHANISM}",
        "sasl.mechanism.inter.broker.protocol": MECHANISM,
        "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config": jaas,
        "listener.name.sasl_ssl.oauthbearer.sasl.jaas.config": (
            "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required "
            f'unsecuredLoginStringClaim_sub="{ADMIN_USER}";'),
        "ssl.keystore.type": "PKCS12",
        "ssl.keystore.location": str(files.path("broker.p12")),
        "ssl.keystore.password": passwords["keystore_password"],
        "ssl.key.password": passwords["keystore_password"],
        "ssl.truststore.type": "PEM",
        "ssl.truststore.location": str(files.path("ca.pem")),
        # ssl.client.auth alone does not apply to SASL_SSL listeners (KIP-684): the
        # listener prefix makes the client certificate mandatory there too.
        "ssl.client.auth": "required",
        "listener.name.sasl_ssl.ssl.client.auth": "required",
        "ssl.endpoint.identification.algorithm": "https",
        "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
        "allow.everyone.if.no.acl.found": "false",
        "super.users": f"User:{ADMIN_USER};User:{BROKER_SUBJECT}",
        # A failed authentication is answered at once, not after the default 100 ms
        # delay per attempt (the clients' own backoff paces their retries).
        "connection.failed.authentication.delay.ms": "0",
    }


def format_arguments(files: SecureFiles) -> list[str]:
    """``kafka-storage format`` arguments that create the super user's credentials."""
    password = files.secrets()["admin_password"]
    return ["--add-scram", f"{MECHANISM}=[name={ADMIN_USER},password={password}]"]


# -- readiness over SASL_SSL ---------------------------------------------------------------


Call = Callable[[socket.socket, int, int, bytes], Any]
"""``_call(sock, api_key, version, body)`` of kafka-local: one request, its reader."""


def secure_connect(files: SecureFiles, host: str, port: int, timeout: float,
                   call: Call) -> socket.socket:
    """A TLS connection to the broker (its certificate checked against ``ca.pem``,
    with the client certificate) authenticated as the super user with SCRAM-SHA-512.
    Raises OSError (or ValueError) when the broker does not accept it yet."""
    passwords = files.secrets()
    context = ssl.create_default_context(cafile=str(files.path("ca.pem")))
    context.load_cert_chain(str(files.path("client.pem")), str(files.path("client.key")),
                            password=passwords["client_key_password"])
    raw = socket.create_connection((host, port), timeout=timeout)
    try:
        sock = context.wrap_socket(raw, server_hostname=host)
    except BaseException:
        raw.close()
        raise
    try:
        sock.settimeout(timeout)
        _scram_login(sock, call, ADMIN_USER, passwords["admin_password"])
    except BaseException:
        sock.close()
        raise
    return sock


def _bytes_field(data: bytes) -> bytes:
    return struct.pack(">i", len(data)) + data


def _authenticate(sock: socket.socket, call: Call, message: bytes) -> bytes:
    reader = call(sock, API_SASL_AUTHENTICATE, 0, _bytes_field(message))
    error = reader.take(">h")
    text = reader.string()
    if error != 0:
        raise ValueError(f"SASL authentication failed ({error}): {text}")
    length = reader.take(">i")
    answer: bytes = reader.data[reader.pos:reader.pos + length]
    return answer


def _scram_login(sock: socket.socket, call: Call, user: str, password: str) -> None:
    """SaslHandshake v1 + SaslAuthenticate v0 with SCRAM-SHA-512 (RFC 5802)."""
    mechanism = MECHANISM.encode()
    reader = call(sock, API_SASL_HANDSHAKE, 1, struct.pack(">h", len(mechanism)) + mechanism)
    if reader.take(">h") != 0:
        raise ValueError(f"the broker does not offer {MECHANISM}")
    nonce = base64.b64encode(secrets.token_bytes(18)).decode()
    first_bare = f"n={user},r={nonce}"
    server_first = _authenticate(sock, call, f"n,,{first_bare}".encode()).decode()
    fields = dict(item.split("=", 1) for item in server_first.split(","))
    if not fields["r"].startswith(nonce):
        raise ValueError("the broker's SCRAM nonce does not extend ours")
    salted = hashlib.pbkdf2_hmac("sha512", password.encode(), base64.b64decode(fields["s"]),
                                 int(fields["i"]))
    client_key = hmac.digest(salted, b"Client Key", "sha512")
    stored_key = hashlib.sha512(client_key).digest()
    final_bare = f"c=biws,r={fields['r']}"
    auth_message = f"{first_bare},{server_first},{final_bare}".encode()
    signature = hmac.digest(stored_key, auth_message, "sha512")
    proof = bytes(a ^ b for a, b in zip(client_key, signature, strict=True))
    final = f"{final_bare},p={base64.b64encode(proof).decode()}"
    server_final = _authenticate(sock, call, final.encode()).decode()
    server_key = hmac.digest(salted, b"Server Key", "sha512")
    expected = base64.b64encode(hmac.digest(server_key, auth_message, "sha512")).decode()
    if server_final != f"v={expected}":
        raise ValueError("the broker's SCRAM signature is wrong")
