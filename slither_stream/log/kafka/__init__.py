"""The Apache Kafka backend of the log (``kafka://host:port[,host:port...]``).

Built on confluent-kafka (librdkafka). Only :class:`KafkaLog` is public; the
producer and consumer it returns implement :mod:`slither_stream.log.base`.
"""

from slither_stream.log.kafka.log import KafkaLog

__all__ = ["KafkaLog"]
