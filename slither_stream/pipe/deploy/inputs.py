"""The input side of a run: payloads wrapped as they are read, produced as the first
stage keeps up.

:func:`wrap_inputs` turns any iterable of payloads (a list, a generator reading a
file) into the records of the pipe's input topic lazily, so a run never holds its
inputs. :class:`InputFeeder` produces them to the input topic a block at a time
and stops once it is :data:`MAX_INPUTS_AHEAD` records ahead of what the first stage
has finished, so a run of any size keeps a bounded window of input in flight:
memory does not grow with the input, and outputs stream out while inputs still go in.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from slither_stream.errors import ConfigError
from slither_stream.item import Item
from slither_stream.log.base import Log, Producer
from slither_stream.log.types import Outgoing
from slither_stream.pipe.definition import PipeDefinition

MAX_INPUTS_AHEAD = 50_000
"""Input records produced at most beyond what the first stage has finished (records
count as finished once committed, so the window must cover a commit interval of a
fast stage: 1 s at 50k rec/s)."""

BLOCK = 1_000
"""Inputs wrapped (consecutive ids) and produced per step."""


def wrap_inputs(inputs: Iterable[Any], keys: Callable[[Any], Any] | None
                ) -> Iterator[Item | bytes]:
    """Items for the input topic, made as ``inputs`` is read; ``bytes`` inputs stay
    raw record values. Bad arguments raise :class:`ConfigError` at once."""
    if isinstance(inputs, (str, bytes, Mapping)):
        raise ConfigError("Runner inputs must be an iterable of payloads or Items, "
                          f"not a single {type(inputs).__name__}")
    if keys is not None and not callable(keys):
        raise ConfigError(f"keys must be a function payload -> key, not {keys!r}")
    try:
        source = iter(inputs)
    except TypeError:
        raise ConfigError("Runner inputs must be an iterable of payloads or Items, not "
                          f"{type(inputs).__name__}") from None
    return _wrapped(source, keys)


def _wrapped(source: Iterator[Any], keys: Callable[[Any], Any] | None
             ) -> Iterator[Item | bytes]:
    while block := list(itertools.islice(source, BLOCK)):
        wrapped = iter(Item.wrap_many(v for v in block if not isinstance(v, bytes)))
        for value in block:
            if isinstance(value, bytes):
                yield value
                continue
            item = next(wrapped)
            if keys is not None and item.key is None:
                item = Item(id=item.id, payload=item.payload, key=keys(item.payload),
                            meta=item.meta)
            yield item


class InputFeeder:
    """Produces a run's inputs to the pipe's input topic, at most
    :data:`MAX_INPUTS_AHEAD` records ahead of the first stage (see the module doc).

    ``feed(finished)`` is called by the run's loop with the count of inputs the first
    stage has finished; ``produced`` counts the inputs produced so far and ``done``
    says whether the inputs are exhausted (and flushed).
    """

    def __init__(self, log: Log, definition: PipeDefinition,
                 items: Iterator[Item | bytes], *, ahead: int | None = None) -> None:
        self._items = items
        self._topic = definition.input_topic
        self._envelope = definition.envelope(definition.input_topic)  # its declared serde
        self._ahead = MAX_INPUTS_AHEAD if ahead is None else ahead
        self._producer: Producer = log.producer(delivery_reports="errors")
        self._unflushed = False
        self.produced = 0
        self.done = False

    def feed(self, finished: int) -> bool:
        """Produce the next block if the window allows; True if it produced any. A
        full window (or the end of the inputs) flushes what was produced, so the
        first stage sees every record it is waited for."""
        if self.done:
            return False
        room = finished + self._ahead - self.produced
        if room <= 0:
            self._flush()
            return False
        block = list(itertools.islice(self._items, min(room, BLOCK)))
        if block:
            self._produce(block)
        if len(block) < min(room, BLOCK):  # the inputs are exhausted
            self._flush()
            self.done = True
        return bool(block)

    def _produce(self, block: list[Item | bytes]) -> None:
        topic, encode = self._topic, self._envelope.encode
        records: list[Outgoing] = []
        for item in block:
            if isinstance(item, bytes):
                records.append((topic, item, None, ()))
            else:
                key, value, headers = encode(item)
                records.append((topic, value, key, headers))
        self._producer.produce_many(records)
        self.produced += len(block)
        self._unflushed = True

    def _flush(self) -> None:
        if self._unflushed:
            self._producer.flush()
            self._unflushed = False

    def close(self) -> None:
        self._producer.close()
