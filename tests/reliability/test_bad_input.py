"""Bad input: garbage on the input topic lands in the DLQ with a clear error, and the
valid records around it are processed.

Hand-made garbage (invalid UTF-8, truncated JSON, Avro bytes of the wrong schema, a
huge undecodable record, a tombstone, a broken envelope header, an empty key) and
Hypothesis-generated garbage are produced between valid records into one running
pipe; every record is then found exactly where it belongs: valid ones on the output,
garbage in the first stage's dead-letter topic with its original key and value, an
error type and a message that says what was wrong and where.
"""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from slither_stream.item import Item
from slither_stream.log import Log, open_log
from slither_stream.log.types import Headers
from slither_stream.pipe import Pipe
from slither_stream.pipe.definition import PipeDefinition
from slither_stream.pipe.deploy.runner import ensure_topics
from slither_stream.pipe.engine.dlq import DeadLetter
from slither_stream.pipe.engine.envelope import ID_HEADER, KEY_HEADER, Envelope
from slither_stream.serde import AvroSerde, SchemaRegistry
from tests.reliability.helpers import ROOT, Figures, backend_of, scaled, tree_peak_rss
from tests.reliability.inprocess import running_worker

pytestmark = pytest.mark.reliability

HUGE_BYTES = 600_000


def validate(item: Item, ctx: Any) -> Any:
    """Reject what decodes but is not a record of this pipe: not an object with an
    integer ``n``, or an empty key."""
    payload = item.payload
    if not isinstance(payload, dict) or type(payload.get("n")) is not int:
        raise ValueError(f"expected an object with an integer 'n', got {payload!r:.80}")
    if item.key in (b"", ""):
        raise ValueError("record has an empty key")
    return payload


def double(item: Item, ctx: Any) -> Any:
    return {**item.payload, "double": item.payload["n"] * 2}


def bad_input_pipe() -> Pipe:
    pipe = Pipe("rel-bad", partitions=2)
    pipe.local("validate", validate, batch_size=20)
    pipe.local("double", double, batch_size=20)
    pipe.on_error("*", "dead_letter")
    return pipe


@dataclass(frozen=True)
class Garbage:
    """One bad record and the words its dead letter's message must contain."""

    label: str
    key: bytes | None
    value: bytes | None
    headers: Headers = ()
    error_type: str = "SerializationError"
    says: str = ""


def hand_made() -> list[Garbage]:
    registry = SchemaRegistry.load(ROOT / "schemas")
    scored = registry.get("slither.examples.ScoredTransaction")
    wrong_avro = AvroSerde(scored).encode(_scored_example(scored.parsed))
    truncated = orjson.dumps({"n": 1, "key": "k1", "text": "abc"})[:-7]
    return [
        Garbage("invalid-utf8", b"g-utf8", b'{"n": 1, "t": "\xff\xfe"}', says="UTF-8"),
        Garbage("truncated-json", b"g-trunc", truncated, says="truncated JSON"),
        Garbage("wrong-avro", b"g-avro", wrong_avro, says="json decode"),
        Garbage("huge", b"g-huge", b"{" + b"x" * HUGE_BYTES, says="json decode"),
        Garbage("tombstone", b"g-tomb", None, says="no value"),
        Garbage("bad-id-header", b"g-hdr", orjson.dumps({"n": 3}),
                headers=((ID_HEADER, b"not-a-number"),), says="envelope"),
        Garbage("empty-key", b"", orjson.dumps({"n": 4, "empty": True}),
                headers=((KEY_HEADER, b"s"),), error_type="ValueError", says="empty key"),
        Garbage("not-an-object", b"g-list", b"[1, 2, 3]", error_type="ValueError",
                says="integer 'n'"),
    ]


def _scored_example(schema: Any) -> dict[str, Any]:
    """A value of the ScoredTransaction schema, built from its field types."""
    defaults = {"string": "x", "double": 1.5, "float": 1.5, "long": 7, "int": 7,
                "boolean": True, "bytes": b"b"}

    def value(kind: Any) -> Any:
        if isinstance(kind, list):
            return value(next(k for k in kind if k != "null")) if "null" not in kind else None
        if isinstance(kind, dict):
            if kind.get("type") == "record":
                return {f["name"]: value(f["type"]) for f in kind["fields"]}
            if kind.get("type") == "enum":
                return kind["symbols"][0]
            if kind.get("type") == "array":
                return []
            if kind.get("type") == "map":
                return {}
            return value(kind["type"])
        return defaults.get(kind, "x")

    return dict(value(schema))


class PipeUnderTest:
    """One pipe running in-process and one consumer following its output and DLQ;
    each probe produces records and waits until they are accounted for."""

    def __init__(self, log: Log, definition: PipeDefinition) -> None:
        self.log = log
        self.definition = definition
        self.output = definition.output_topic("default")
        self.dlq = definition.stage("validate").dlq_topic
        self.numbers = itertools.count()
        self.envelope = Envelope()
        self.valid = 0
        self.garbage = 0
        self.seen_out: set[int] = set()
        self.letters: dict[tuple[bytes | None, bytes | None], DeadLetter] = {}
        self.follower = log.consumer(f"reliability-bad-follower-{time.monotonic_ns()}")
        self.follower.assign([(tp, 0) for topic in (self.output, self.dlq)
                              for tp in log.partitions_of(topic)])

    def close(self) -> None:
        self.follower.close()

    def _follow(self, expected_out: set[int],
                wanted: set[tuple[bytes | None, bytes | None]]) -> None:
        deadline = time.monotonic() + 120
        while not (expected_out <= self.seen_out and wanted <= set(self.letters)):
            assert time.monotonic() < deadline, (
                f"missing outputs {sorted(expected_out - self.seen_out)[:5]}, "
                f"dead letters {list(wanted - set(self.letters))[:3]}")
            for record in self.follower.poll_batch(1000, 0.5):
                if record.topic == self.output:
                    payload = orjson.loads(record.value or b"null")
                    assert payload["double"] == 2 * payload["n"]
                    self.seen_out.add(payload["n"])
                else:
                    self.letters[(record.key, record.value)] = DeadLetter.from_record(record)

    def probe(self, garbage: list[Garbage], *, neighbours: int = 2) -> None:
        """Produce each garbage record between valid neighbours; wait until every
        one of them is where it belongs, and check the dead letters."""
        expected_out: set[int] = set()
        with self.log.producer() as producer:
            for bad in [None, *garbage]:
                for _ in range(neighbours):
                    n = next(self.numbers)
                    expected_out.add(n)
                    key, value, headers = self.envelope.encode(
                        Item.wrap({"n": n}, key=f"v{n}"))
                    producer.produce(self.definition.input_topic, value, key, headers=headers)
                if bad is not None:
                    producer.produce(self.definition.input_topic, bad.value, bad.key,
                                     headers=bad.headers)
            producer.flush()
        self.valid += len(expected_out)
        self.garbage += len(garbage)
        self._follow(expected_out, {(bad.key, bad.value) for bad in garbage})
        for bad in garbage:
            letter = self.letters[(bad.key, bad.value)]
            assert letter.stage == "validate", (bad.label, letter)
            assert letter.error_type == bad.error_type, (bad.label, letter.error_type,
                                                         letter.message)
            assert bad.says in letter.message, (bad.label, letter.message)
            assert letter.topic == self.definition.input_topic and letter.offset >= 0
            if bad.error_type == "SerializationError" and bad.value is not None:
                # the message alone locates the bad record
                assert f"offset={letter.offset}" in letter.message, letter.message
            assert len(letter.message.encode()) <= 4096, f"{bad.label}: unbounded message"
        assert len(self.seen_out) == self.valid, "an output appeared that was not sent"


@contextmanager
def pipe_under_test(log_url: str, namespace: str) -> Iterator[PipeUnderTest]:
    definition = bad_input_pipe().compile().with_namespace(namespace)
    with open_log(log_url) as log:
        ensure_topics(log, definition)
        with running_worker(log, definition, "bad-input"):
            pipe = PipeUnderTest(log, definition)
            try:
                yield pipe
            finally:
                pipe.close()


def test_hand_made_garbage_goes_to_the_dlq(log_url: str,
                                           unique_name: Callable[[str], str]) -> None:
    figures = Figures("bad_input/hand_made", backend_of(log_url))
    rounds = scaled(200, minimum=2)
    started = time.monotonic()
    with pipe_under_test(log_url, unique_name("rel-bad")) as pipe:
        for _ in range(rounds):
            pipe.probe(hand_made())
        for mib in tree_peak_rss(os.getpid()).values():
            figures.note_rss(mib)
    figures.records_in = pipe.valid + pipe.garbage
    figures.records_out = pipe.valid
    figures.dlq = pipe.garbage
    figures.extra["seconds"] = round(time.monotonic() - started, 1)
    figures.report()


def _is_valid(value: bytes | None) -> bool:
    try:
        payload = orjson.loads(value) if value is not None else None
    except orjson.JSONDecodeError:
        return False
    return isinstance(payload, dict) and type(payload.get("n")) is int


_INTS = st.integers(min_value=-(2**63), max_value=2**64 - 1)  # what orjson can write


def _truncations() -> st.SearchStrategy[bytes]:
    document = st.dictionaries(st.text(max_size=8), _INTS | st.text(max_size=20),
                               max_size=4).map(lambda d: orjson.dumps({"n": 1, **d}))
    return st.tuples(document, st.integers(min_value=1)).map(
        lambda pair: pair[0][:len(pair[0]) - 1 - pair[1] % len(pair[0])])


garbage_values = st.one_of(
    st.binary(max_size=300),
    st.text(max_size=100).map(str.encode),
    _truncations(),
    st.recursive(st.none() | st.booleans() | _INTS | st.text(max_size=10),
                 lambda inner: st.lists(inner, max_size=3), max_leaves=8).map(orjson.dumps),
).filter(lambda value: not _is_valid(value))
garbage_keys = st.binary(min_size=1, max_size=24)


def test_generated_garbage_goes_to_the_dlq(log_url: str,
                                           unique_name: Callable[[str], str]) -> None:
    figures = Figures("bad_input/hypothesis", backend_of(log_url))
    examples = scaled(2500, minimum=25)
    started = time.monotonic()
    with pipe_under_test(log_url, unique_name("rel-badgen")) as pipe:

        @settings(max_examples=examples, deadline=None, database=None,
                  suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
        @given(st.lists(st.tuples(garbage_keys, garbage_values), min_size=1, max_size=5))
        def check(values: list[tuple[bytes, bytes]]) -> None:
            pipe.probe([Garbage("generated", key, value, error_type=_expected_type(value),
                                says=_expected_words(value)) for key, value in values],
                       neighbours=1)

        check()
        for mib in tree_peak_rss(os.getpid()).values():
            figures.note_rss(mib)
    figures.records_in = pipe.valid + pipe.garbage
    figures.records_out = pipe.valid
    figures.dlq = pipe.garbage
    figures.extra["examples"] = examples
    figures.extra["seconds"] = round(time.monotonic() - started, 1)
    figures.report()


def _expected_type(value: bytes) -> str:
    try:
        orjson.loads(value)
    except orjson.JSONDecodeError:
        return "SerializationError"
    return "ValueError"


def _expected_words(value: bytes) -> str:
    return "json decode" if _expected_type(value) == "SerializationError" else "integer 'n'"
