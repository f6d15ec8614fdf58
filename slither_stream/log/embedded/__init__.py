"""The embedded durable log backend (``embedded://PATH``).

Public: :class:`EmbeddedLog` (and the client classes it returns). Modules with a
leading underscore are internal.
"""

from slither_stream.log.embedded.consumer import EmbeddedConsumer
from slither_stream.log.embedded.log import EmbeddedLog
from slither_stream.log.embedded.producer import EmbeddedProducer

__all__ = ["EmbeddedConsumer", "EmbeddedLog", "EmbeddedProducer"]
