"""Dead letters: the original record plus headers that say what went wrong.

A record that cannot be decoded, cannot use its stage's keyed state, or whose item
failed under the ``dead_letter`` policy, is written to ``<pipe>.<stage>.dlq`` with
its original key, value and headers, and:

* ``slither.dlq.stage`` — the stage that gave up on it
* ``slither.dlq.error_type`` / ``slither.dlq.message`` — what failed
* ``slither.dlq.attempts`` — how many times the stage tried
* ``slither.dlq.topic`` / ``slither.dlq.partition`` / ``slither.dlq.offset`` — where
  the record was read, so it can be found and replayed
"""

from __future__ import annotations

from dataclasses import dataclass

from slither_stream.log._secrets import scrub
from slither_stream.log.types import Headers, Record

STAGE = "slither.dlq.stage"
ERROR_TYPE = "slither.dlq.error_type"
MESSAGE = "slither.dlq.message"
ATTEMPTS = "slither.dlq.attempts"
TOPIC = "slither.dlq.topic"
PARTITION = "slither.dlq.partition"
OFFSET = "slither.dlq.offset"

MAX_MESSAGE_BYTES = 4096


def dead_letter_headers(record: Record, *, stage: str, error_type: str, message: str,
                        attempts: int) -> Headers:
    """The original headers followed by the ``slither.dlq.*`` description (the
    message scrubbed of client secrets, see :mod:`slither_stream.log._secrets`)."""
    text = scrub(message).encode("utf-8", errors="replace")[:MAX_MESSAGE_BYTES]
    return (*record.headers,
            (STAGE, stage.encode()),
            (ERROR_TYPE, error_type.encode()),
            (MESSAGE, text),
            (ATTEMPTS, str(attempts).encode()),
            (TOPIC, record.topic.encode()),
            (PARTITION, str(record.partition).encode()),
            (OFFSET, str(record.offset).encode()))


@dataclass(frozen=True)
class DeadLetter:
    """A dead-letter record read back (for tools and tests)."""

    stage: str
    error_type: str
    message: str
    attempts: int
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None

    @classmethod
    def from_record(cls, record: Record) -> DeadLetter:
        def text(name: str) -> str:
            raw = record.header(name)
            if raw is None:
                raise ValueError(f"record at {record.topic}[{record.partition}]@"
                                 f"{record.offset} is not a dead letter: no {name} header")
            return raw.decode("utf-8", errors="replace")

        return cls(stage=text(STAGE), error_type=text(ERROR_TYPE), message=text(MESSAGE),
                   attempts=int(text(ATTEMPTS)), topic=text(TOPIC),
                   partition=int(text(PARTITION)), offset=int(text(OFFSET)),
                   key=record.key, value=record.value)
