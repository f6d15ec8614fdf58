"""The Apache Kafka backend of the log (``kafka://host:port[,host:port...]``).

Built on confluent-kafka (librdkafka). Only :class:`KafkaLog` is public; the
producer and consumer it returns implement :mod:`slither_stream.log.base`.

Usage::

    log = open_log("kafka://127.0.0.1:9092", timeout=10, connect_timeout=5,
                   config={"client.id": "scorer"})       # applied to every client
    producer = log.producer(config={"linger.ms": 20})    # per-client overrides
    consumer = log.consumer("group", config={"session.timeout.ms": 6000})

Defaults (``_config.py``): producers are idempotent (``acks=all``), partition with
``murmur2_random`` (Java's partitioner), batch with ``linger.ms=5`` and
``batch.size=1000000``, compress with lz4 and fail a record after 30 s; consumers
read committed data only, never auto-commit, and rebalance with
``cooperative-sticky`` (10 s session timeout). The settings the contract depends on
cannot be overridden; everything else is a librdkafka property in ``config``.

Security (TLS, mutual TLS, SASL PLAIN / SCRAM / OAUTHBEARER) comes from a librdkafka
properties file, ``open_log(url, kafka_config="client.properties")`` or
``$SLITHER_KAFKA_CONFIG``, and single properties from ``SLITHER_KAFKA_SASL_PASSWORD``
and the other variables of ``_properties.ENV_PROPERTIES``; secrets are redacted
wherever settings or errors are shown. A refused login raises
:class:`~slither_stream.errors.AuthenticationError` when the log opens; a missing
ACL raises :class:`~slither_stream.errors.AuthorizationError`.
"""

from slither_stream.log.kafka.log import KafkaLog

__all__ = ["KafkaLog"]
