"""The SASL_SSL broker of the test session (``docker/kafka-local start --secure``).

One broker per session, started by the ``kafka_secure`` fixture the first time a test
asks for it (so a run without secured tests never pays for it). :class:`SecureKafka`
adds SCRAM users and ACLs through the super user's admin client and writes each
user's librdkafka properties file, the way an operator hands one to an application.
"""

from __future__ import annotations

import contextlib
import json
import tempfile
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.kafka_broker import read_properties, start_local_broker, stop_local_broker

APP_USER = "app"
"""The contract suite's principal: ALL on every topic, group and transactional id
(through ACLs, not as a super user, so the authorizer is on the path)."""


@dataclass
class SecureKafka:
    """A running SASL_SSL broker: ``bootstrap`` and the TLS material in ``secure``."""

    bootstrap: str
    secure: Path
    work: Path
    _users: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"kafka://{self.bootstrap}"

    @property
    def admin_properties(self) -> Path:
        return self.secure / "admin.properties"

    def secrets(self) -> dict[str, str]:
        """The broker's generated passwords (``secrets.json``)."""
        data: dict[str, str] = json.loads((self.secure / "secrets.json").read_text())
        return data

    def admin_config(self) -> dict[str, Any]:
        config: dict[str, Any] = dict(read_properties(self.admin_properties))
        config["bootstrap.servers"] = self.bootstrap
        return config

    @contextlib.contextmanager
    def admin(self) -> Iterator[Any]:
        from confluent_kafka.admin import AdminClient

        yield AdminClient(self.admin_config())

    def add_user(self, name: str, password: str) -> None:
        """Create (or change the password of) SCRAM-SHA-512 user ``name``."""
        from confluent_kafka.admin import (
            ScramCredentialInfo,
            ScramMechanism,
            UserScramCredentialUpsertion,
        )

        upsert = UserScramCredentialUpsertion(
            name, ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 4096), password.encode())
        with self.admin() as admin:
            for future in admin.alter_user_scram_credentials([upsert]).values():
                future.result(timeout=30)
        self._users[name] = password

    def properties(self, user: str, *, password: str | None = None,
                   **overrides: str) -> Path:
        """Write the librdkafka properties of ``user`` (its password unless
        ``password``; ``overrides`` by property name with ``_`` for ``.``)."""
        config = read_properties(self.admin_properties)
        config["sasl.username"] = user
        config["sasl.password"] = password if password is not None else self._users[user]
        for name, value in overrides.items():
            config[name.replace("_", ".")] = value
        path = self.work / f"{user}-{uuid.uuid4().hex[:8]}.properties"
        path.write_text("".join(f"{k}={v}\n" for k, v in config.items()))
        return path

    def oauth_properties(self, user: str) -> Path:
        """librdkafka properties authenticating as ``User:<user>`` with OAUTHBEARER
        (an unsecured JWT librdkafka makes itself, which this broker accepts), over
        the same mutual TLS as the SCRAM users."""
        config = read_properties(self.admin_properties)
        for name in ("sasl.username", "sasl.password"):
            config.pop(name, None)
        config.update({"sasl.mechanism": "OAUTHBEARER",
                       "enable.sasl.oauthbearer.unsecure.jwt": "true",
                       "sasl.oauthbearer.config": f"principal={user}"})
        path = self.work / f"{user}-oauth-{uuid.uuid4().hex[:8]}.properties"
        path.write_text("".join(f"{k}={v}\n" for k, v in config.items()))
        return path

    def grant(self, principal: str, resource_type: str, name: str,
              operations: Iterable[str], *, pattern: str = "LITERAL") -> None:
        """Allow ``principal`` ``operations`` on a resource (``TOPIC``, ``GROUP``,
        ``TRANSACTIONAL_ID``, ``CLUSTER``)."""
        self._acls("create", principal, resource_type, name, operations, pattern=pattern)

    def revoke(self, principal: str, resource_type: str, name: str,
               operations: Iterable[str], *, pattern: str = "LITERAL") -> None:
        self._acls("delete", principal, resource_type, name, operations, pattern=pattern)

    def _acls(self, action: str, principal: str, resource_type: str, name: str,
              operations: Iterable[str], *, pattern: str) -> None:
        from confluent_kafka.admin import (
            AclBinding,
            AclBindingFilter,
            AclOperation,
            AclPermissionType,
            ResourcePatternType,
            ResourceType,
        )

        kind = ResourceType.BROKER if resource_type == "CLUSTER" else ResourceType[resource_type]
        resource = "kafka-cluster" if resource_type == "CLUSTER" else name
        make = AclBinding if action == "create" else AclBindingFilter
        bindings = [make(kind, resource, ResourcePatternType[pattern], principal, "*",
                         AclOperation[op], AclPermissionType.ALLOW) for op in operations]
        with self.admin() as admin:
            call = admin.create_acls if action == "create" else admin.delete_acls
            for future in call(bindings, request_timeout=30).values():
                future.result(timeout=30)


@contextlib.contextmanager
def secure_broker_for_tests() -> Iterator[SecureKafka]:
    """Start the session's SASL_SSL broker with the contract user ``app``."""
    with tempfile.TemporaryDirectory(prefix="slither-kafka-secure-") as data:
        root = Path(data)
        bootstrap = start_local_broker(root / "broker", secure=True)
        try:
            work = root / "clients"
            work.mkdir()
            broker = SecureKafka(bootstrap, root / "broker" / "secure", work)
            broker.add_user(APP_USER, uuid.uuid4().hex)
            principal = f"User:{APP_USER}"
            for kind in ("TOPIC", "GROUP", "TRANSACTIONAL_ID"):
                broker.grant(principal, kind, "*", ["ALL"])
            broker.grant(principal, "CLUSTER", "kafka-cluster", ["ALL"])
            yield broker
        finally:
            stop_local_broker(root / "broker")
