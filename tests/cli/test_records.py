"""Line parsing for ``slither produce``: keys, RFC 6901 pointers, bad lines, progress."""

from __future__ import annotations

import io

import orjson
import pytest

from slither_stream.cli._progress import Progress
from slither_stream.cli._records import (
    _MISSING,
    BadLine,
    GoodLine,
    KeySource,
    LineParser,
    key_bytes,
    parse_lines,
)
from slither_stream.errors import ConfigError
from slither_stream.serde import JsonSerde


@pytest.mark.parametrize("pointer, document, expected", [
    ("/a", {"a": "x"}, "x"),
    ("/a/b", {"a": {"b": 3}}, 3),
    ("/a~1b", {"a/b": 1}, 1),
    ("/m~0n", {"m~n": 2}, 2),
    ("/~01", {"~1": "tilde-one"}, "tilde-one"),  # ~01 is "~1", not "/"
    ("/list/1", {"list": ["a", "b"]}, "b"),
    ("/list/0/id", {"list": [{"id": 9}]}, 9),
    ("", {"a": 1}, {"a": 1}),
])
def test_pointer_finds_rfc6901_values(pointer: str, document: object, expected: object) -> None:
    assert KeySource.pointer(pointer).find(document) == expected


@pytest.mark.parametrize("pointer, document", [
    ("/missing", {"a": 1}),
    ("/list/2", {"list": [1, 2]}),
    ("/list/01", {"list": [1, 2]}),   # leading zeros are not array indexes
    ("/list/-", {"list": [1]}),
    ("/a/b", {"a": "scalar"}),
])
def test_pointer_reports_missing_values(pointer: str, document: object) -> None:
    source = KeySource.pointer(pointer)
    assert source.find(document) is _MISSING
    (parsed,) = parse_lines([orjson.dumps(document)], key=source, serde=None)
    assert isinstance(parsed, BadLine)
    assert parsed.reason == f"no key: pointer {pointer!r} not found"


def test_pointer_must_start_with_slash() -> None:
    with pytest.raises(ConfigError, match="must start with '/'"):
        KeySource.pointer("a/b")


def test_key_bytes_text_and_json() -> None:
    assert key_bytes("u1") == b"u1"
    assert key_bytes(7) == b"7"
    assert key_bytes(True) == b"true"
    assert key_bytes({"a": 1}) == b'{"a":1}'


def test_lines_are_numbered_from_one_and_blank_lines_skipped() -> None:
    lines = [b'{"id": "a"}\n', b"\n", b"oops\n", b'{"id": null}\n', b'{"id": 5, "v": [1]}\n']
    parsed = list(parse_lines(lines, key=KeySource.field("id"), serde=None))
    assert [type(p).__name__ for p in parsed] == ["GoodLine", "BadLine", "BadLine", "GoodLine"]
    first, bad_json, null_key, last = parsed
    assert isinstance(first, GoodLine) and first.number == 1 and first.key == b"a"
    assert first.value == b'{"id": "a"}'  # JSON lines are produced as written
    assert isinstance(bad_json, BadLine) and bad_json.number == 3
    assert bad_json.reason.startswith("invalid JSON")
    assert isinstance(null_key, BadLine) and null_key.number == 4
    assert null_key.reason == "no key: field 'id' is null"
    assert isinstance(last, GoodLine) and last.number == 5 and last.key == b"5"


def test_a_serde_reencodes_the_document() -> None:
    parsed = list(parse_lines([b'{ "b" : 2 }'], key=None, serde=JsonSerde()))
    assert parsed == [GoodLine(1, None, b'{"b":2}')]


def test_progress_counter_and_bar_go_to_the_given_stream() -> None:
    counter_stream = io.StringIO()
    with Progress("producing", None, enabled=True, stream=counter_stream) as progress:
        for _ in range(3):
            progress.advance(10)
    assert progress.records == 3
    assert counter_stream.getvalue().endswith("producing: 3 records\n")

    bar_stream = io.StringIO()
    with Progress("producing", 100, enabled=True, stream=bar_stream) as progress:
        progress.advance(100, 5)
    assert "producing" in bar_stream.getvalue()

    silent = io.StringIO()
    with Progress("producing", 100, enabled=False, stream=silent) as progress:
        progress.advance(50)
    assert silent.getvalue() == "" and progress.records == 1


LINES = [b'{"id": "a", "v": 1}\n', b"\n", b"oops\n", b'{"id": null}\n', b'{"id": 5}\n',
         b"[1, 2]\n", b'{"v": 2}\n', b'  {"id": {"x": 1}}  \n', b'"text"\n', b"\t\n",
         b'{"id": "\xc3\xa9"}\n', b'{"id": true}\r\n']


@pytest.mark.parametrize("key", [None, KeySource.field("id"), KeySource.pointer("/id"),
                                 KeySource.pointer("")])
@pytest.mark.parametrize("serde", [None, JsonSerde()])
def test_line_parser_judges_lines_as_parse_lines_does(key: KeySource | None,
                                                      serde: JsonSerde | None) -> None:
    """The block parser's fast paths give the records and bad lines parse_lines gives,
    numbered from the block's first line."""
    expected = list(parse_lines(LINES, key=key, serde=serde))
    records, bad = LineParser("t", key=key, serde=serde).parse(LINES, 1)
    assert records == [("t", line.value, line.key, ()) for line in expected
                       if isinstance(line, GoodLine)]
    assert bad == [line for line in expected if isinstance(line, BadLine)]
    _, shifted = LineParser("t", key=key, serde=serde).parse(LINES, 101)
    assert [line.number for line in shifted] == [line.number + 100 for line in bad]


def test_progress_bar_is_redrawn_at_most_every_interval() -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    stream = Terminal()
    with Progress("producing", 1_000_000, enabled=True, stream=stream) as progress:
        for _ in range(100_000):
            progress.advance(10)
    assert progress.records == 100_000
    # click draws each update; a draw per advance would be 100,000 of them
    assert stream.getvalue().count("producing") < 50
    assert "100%" in stream.getvalue()
