"""librdkafka configuration for the Kafka backend: one place where defaults live.

Every client (admin, producer, consumer, lag probe, offset readers) starts from
:meth:`KafkaSettings.client_config`; the producer and consumer defaults below are
the ones the contract in ``slither_stream/log/base.py`` needs. User settings arrive
from a properties file and the environment (security: see
:mod:`slither_stream.log.kafka._properties`) and as a ``config`` mapping of librdkafka
property names (the URL's query, code); the properties the contract depends on
cannot be overridden (doing so would silently break ordering, parity or
exactly-once). Secret values are remembered for redaction
(:mod:`slither_stream.log._secrets`) and never shown by :meth:`KafkaSettings.describe`
or ``repr``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from slither_stream.errors import ConfigError
from slither_stream.log._secrets import redact_config, remember
from slither_stream.log.kafka._properties import check_files, configured_properties, principal
from slither_stream.log.kafka._repeats import RepeatFilter

LOGGER = logging.getLogger("slither_stream.log.kafka")

CLIENT_LOGGER = logging.getLogger("slither_stream.log.kafka.client")
"""librdkafka's own log lines and the clients' non-fatal error reports, which repeat
for every reconnect attempt while a broker is down: repeats are folded (see
:mod:`slither_stream.log.kafka._repeats`)."""
CLIENT_LOGGER.addFilter(RepeatFilter())

_SCOPE_WARNING = re.compile(r"Configuration property (\S+) is a (?:consumer|producer) "
                            r"property and will be ignored by this (?:producer|consumer)")


class ClientLog:
    """librdkafka's log callback of one client (its ``logger``): lines go to
    :data:`CLIENT_LOGGER`, except the warning that a property of the log-wide
    ``config`` does not apply to this kind of client.

    The log-wide config goes to every client by design: ``session.timeout.ms`` in a
    ``kafka://`` URL is meant for the consumers, and each producer and admin client
    would otherwise warn twice that it ignores it. A property given to one client
    alone keeps its warning.
    """

    def __init__(self, log_wide: Iterable[str] = ()) -> None:
        self.log_wide = frozenset(log_wide)
        self.muted = False
        """Drop every line (while a caller reports the client's failure itself)."""

    def log(self, level: int, message: str, *args: object) -> None:
        if self.muted:
            return
        if args and self.log_wide:
            scope = _SCOPE_WARNING.search(str(args[-1]))
            if scope is not None and scope.group(1) in self.log_wide:
                return
        CLIENT_LOGGER.log(level, message, *args)

ConfigValue = str | int | float | bool
ConfigMap = dict[str, Any]

_HOST_PORT = re.compile(r"^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9._-]+):(\d{1,5})$")

PRODUCER_DEFAULTS: dict[str, ConfigValue] = {
    # Exactly-once per partition: no duplicates or reordering on retries.
    "enable.idempotence": True,
    "acks": "all",
    # Kafka's Java default partitioner (murmur2 on the key bytes, random for
    # key-less records). librdkafka's own default (consistent_random) is CRC32 and
    # would put keys on other partitions than Java clients and the embedded log.
    "partitioner": "murmur2_random",
    # Throughput: wait up to 5 ms to fill batches of up to 1 MB; lz4 is cheap on
    # CPU and shrinks JSON/Avro payloads well.
    "linger.ms": 5,
    "batch.size": 1_000_000,
    "compression.type": "lz4",
    # A record that cannot be delivered fails within 30 s instead of librdkafka's
    # default 5 minutes, so flush() and close() stay bounded.
    "message.timeout.ms": 30_000,
}

CONSUMER_DEFAULTS: dict[str, ConfigValue] = {
    # Commits are explicit and synchronous (Consumer.commit); positions are
    # tracked by the backend, not stored by librdkafka behind our back.
    "enable.auto.commit": False,
    "enable.auto.offset.store": False,
    # Aborted transactions are never returned.
    "isolation.level": "read_committed",
    # Incremental rebalances: members keep their partitions while others join.
    "partition.assignment.strategy": "cooperative-sticky",
    "enable.partition.eof": False,
    "allow.auto.create.topics": False,
    # A crashed member's partitions move within 10 s (the default is 45 s).
    "session.timeout.ms": 10_000,
    "heartbeat.interval.ms": 1_000,
    # When the prefetch queue is full, librdkafka stops fetching for
    # fetch.queue.backoff.ms (default 1000 ms) even after the application has
    # drained it, so a consumer faster than one fetch per second (a store restore,
    # a stage catching up) would sit idle; 10 ms resumes fetching almost at once.
    # The prefetch queue is capped at 32 MB (default 64 MB), so a slow stage holds
    # less, not more; 4 MB per partition keeps a fetch response small against it.
    "max.partition.fetch.bytes": 4 * 1024 * 1024,
    "queued.max.messages.kbytes": 32 * 1024,
    "fetch.queue.backoff.ms": 10,
}

# Properties the backend sets itself; overriding them would break the contract.
_FIXED_PRODUCER = {"enable.idempotence", "partitioner", "transactional.id", "acks"}
_FIXED_CONSUMER = {
    "group.id",
    "enable.auto.commit",
    "enable.auto.offset.store",
    "isolation.level",
    "partition.assignment.strategy",
    "auto.offset.reset",
}


def parse_bootstrap(servers: str) -> str:
    """Validate ``host:port[,host:port...]`` and return it normalised.

    Raises :class:`ConfigError` naming the bad entry, so a typo in a ``kafka://``
    URL fails at once instead of as a connection timeout.
    """
    if not isinstance(servers, str) or not servers.strip():
        raise ConfigError("Kafka bootstrap servers must be 'host:port[,host:port...]', got "
                          f"{servers!r}")
    entries = [entry.strip() for entry in servers.split(",")]
    for entry in entries:
        match = _HOST_PORT.match(entry)
        if match is None:
            raise ConfigError(
                f"bad Kafka bootstrap server {entry!r} in {servers!r}: expected host:port"
            )
        port = int(match.group(2))
        if not 1 <= port <= 65535:
            raise ConfigError(
                f"bad Kafka bootstrap server {entry!r} in {servers!r}: port {port} is "
                "outside 1..65535"
            )
    return ",".join(entries)


def user_config(config: Mapping[str, Any] | None, *, fixed: set[str], what: str) -> ConfigMap:
    """Check a user's librdkafka overrides: string names, none of the ``fixed`` ones."""
    if config is None:
        return {}
    if not isinstance(config, Mapping):
        raise ConfigError(f"{what} config must be a mapping of librdkafka properties, got "
                          f"{type(config).__name__}")
    result: ConfigMap = {}
    for name, value in config.items():
        if not isinstance(name, str) or not name:
            raise ConfigError(f"{what} config keys must be librdkafka property names, got "
                              f"{name!r}")
        if name in fixed:
            raise ConfigError(
                f"{what} config {name!r} is set by slither-stream and cannot be overridden"
            )
        result[name] = value
    return result


@dataclass(frozen=True)
class KafkaSettings:
    """Connection settings shared by every client a :class:`KafkaLog` creates.

    ``timeout`` bounds admin and metadata requests (seconds); ``connect_timeout``
    bounds the reachability check when the log is opened; ``config`` is applied
    to every client (for example security settings; never shown: see
    :meth:`describe`); ``client_id`` is the
    ``client.id`` of every client (None: librdkafka's ``rdkafka``), which is how the
    members of a consumer group tell each other apart (``Log.group_members``).
    """

    bootstrap_servers: str
    timeout: float = 10.0
    connect_timeout: float = 5.0
    config: ConfigMap = field(default_factory=dict, repr=False)
    client_id: str | None = None

    def __post_init__(self) -> None:
        for name in ("timeout", "connect_timeout"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                raise ConfigError(f"Kafka {name} must be a positive number of seconds, got "
                                  f"{value!r}")
        if self.client_id is not None:
            check_client_id(self.client_id)

    @property
    def principal(self) -> str:
        """The Kafka principal these settings authenticate as (for error messages)."""
        return principal(self.config)

    @property
    def mechanism(self) -> str:
        """How the clients authenticate: the SASL mechanism, ``TLS`` (mutual TLS or
        server-verified TLS only) or ``PLAINTEXT``."""
        protocol = str(self.config.get("security.protocol", "plaintext")).upper()
        if protocol.startswith("SASL"):
            return str(self.config.get("sasl.mechanism",
                                       self.config.get("sasl.mechanisms", "GSSAPI"))).upper()
        return "TLS" if protocol == "SSL" else "PLAINTEXT"

    def describe(self) -> dict[str, Any]:
        """The settings for people: secret values redacted."""
        return {"bootstrap_servers": self.bootstrap_servers, "timeout": self.timeout,
                "connect_timeout": self.connect_timeout, "client_id": self.client_id,
                "config": redact_config(self.config)}

    def __repr__(self) -> str:
        return f"KafkaSettings({self.describe()!r})"

    def client_config(self) -> ConfigMap:
        """The base configuration of every client."""
        base: ConfigMap = {
            "bootstrap.servers": self.bootstrap_servers,
            # Connection attempts give up quickly so errors surface in seconds.
            "socket.connection.setup.timeout.ms": max(1000, int(self.connect_timeout * 1000)),
            # librdkafka logs go to Python logging instead of raw stderr.
            "logger": ClientLog(self.config),
        }
        if self.client_id is not None:
            base["client.id"] = self.client_id
        base.update(self.config)
        return base

    def _defaults(self, defaults: Mapping[str, ConfigValue], fixed: set[str]) -> ConfigMap:
        """The defaults the log-wide ``config`` does not set (it may tune any of them,
        e.g. ``session.timeout.ms``, except the ones the contract fixes)."""
        return {name: value for name, value in defaults.items()
                if name in fixed or name not in self.config}

    def producer_config(self, overrides: Mapping[str, Any] | None,
                        transactional_id: str | None) -> ConfigMap:
        """Producer configuration: base, defaults, user overrides, fixed settings."""
        conf = self.client_config()
        conf.update(self._defaults(PRODUCER_DEFAULTS, _FIXED_PRODUCER))
        conf.update(user_config(overrides, fixed=_FIXED_PRODUCER, what="producer"))
        if transactional_id is not None:
            if not isinstance(transactional_id, str) or not transactional_id:
                raise ConfigError(f"transactional_id must be a non-empty string, got "
                                  f"{transactional_id!r}")
            conf["transactional.id"] = transactional_id
        return conf

    def consumer_config(self, group: str, auto_offset_reset: str,
                        overrides: Mapping[str, Any] | None,
                        client_id: str | None = None) -> ConfigMap:
        """Consumer configuration for ``group``; ``client_id`` overrides the log's."""
        if not isinstance(group, str) or not group:
            raise ConfigError(f"consumer group must be a non-empty string, got {group!r}")
        if auto_offset_reset not in ("earliest", "latest"):
            raise ConfigError(
                f"auto_offset_reset must be 'earliest' or 'latest', got {auto_offset_reset!r}"
            )
        conf = self.client_config()
        conf.update(self._defaults(CONSUMER_DEFAULTS, _FIXED_CONSUMER))
        conf.update(user_config(overrides, fixed=_FIXED_CONSUMER, what="consumer"))
        conf["group.id"] = group
        conf["auto.offset.reset"] = auto_offset_reset
        if client_id is not None:
            conf["client.id"] = check_client_id(client_id)
        return conf


def settings_from_options(bootstrap_servers: str, options: Mapping[str, Any]) -> KafkaSettings:
    """Build :class:`KafkaSettings` from ``KafkaLog``'s keyword options.

    Unknown options raise :class:`ConfigError` listing the accepted ones, so a
    misspelt option is not silently ignored.
    """
    accepted = {"timeout", "connect_timeout", "config", "client_id", "kafka_config"}
    unknown = sorted(set(options) - accepted)
    if unknown:
        raise ConfigError(f"unknown Kafka log option(s) {', '.join(unknown)}; accepted: "
                          f"{', '.join(sorted(accepted))}")
    fixed = {"bootstrap.servers"} | _FIXED_PRODUCER | _FIXED_CONSUMER
    config = user_config(configured_properties(options.get("kafka_config")), fixed=fixed,
                         what="Kafka client properties file and environment")
    config.update(user_config(options.get("config"), fixed=fixed, what="Kafka log"))
    remember(config)
    check_files(config)
    return KafkaSettings(
        bootstrap_servers=parse_bootstrap(bootstrap_servers),
        timeout=options.get("timeout", 10.0),
        connect_timeout=options.get("connect_timeout", 5.0),
        config=config,
        client_id=options.get("client_id"),
    )


def check_client_id(value: object) -> str:
    """``value`` if it is a usable ``client.id``; else a ConfigError."""
    if not isinstance(value, str) or not value:
        raise ConfigError(f"client_id must be a non-empty string, got {value!r}")
    return value
