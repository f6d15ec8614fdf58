"""Structured log lines: JSON parses and carries the extra fields."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from slither_stream.errors import ConfigError
from slither_stream.observability import bind, configure_logging


@pytest.fixture
def restore_root() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def lines(stream: io.StringIO) -> list[str]:
    return [line for line in stream.getvalue().splitlines() if line]


@pytest.mark.usefixtures("restore_root")
def test_json_lines_parse_and_carry_extra_fields() -> None:
    out = io.StringIO()
    configure_logging("info", fmt="json", stream=out)
    log = logging.getLogger("slither_stream.pipe.deploy.worker")
    log.info("committed %d records", 5,
             extra={"stage": "score", "topic": "txns", "partition": 3, "offset": 1042})
    log.debug("not shown at info")
    records = [json.loads(line) for line in lines(out)]
    assert len(records) == 1
    record = records[0]
    assert record["level"] == "INFO"
    assert record["logger"] == "slither_stream.pipe.deploy.worker"
    assert record["msg"] == "committed 5 records"
    assert (record["stage"], record["topic"], record["partition"], record["offset"]) == (
        "score", "txns", 3, 1042)
    assert record["ts"].endswith("Z") and record["ts"][10] == "T"


@pytest.mark.usefixtures("restore_root")
def test_json_line_holds_exception_and_unserializable_values() -> None:
    out = io.StringIO()
    configure_logging("warning", fmt="json", stream=out)
    try:
        raise ValueError("bad payload")
    except ValueError:
        logging.getLogger("x").exception("stage failed", extra={"key": b"\x01", "obj": object})
    (line,) = lines(out)
    record = json.loads(line)
    assert record["level"] == "ERROR"
    assert "ValueError: bad payload" in record["exc"]
    assert record["obj"] == str(object)
    assert "\n" not in line


@pytest.mark.usefixtures("restore_root")
def test_bound_logger_adds_fields_and_call_extra_wins() -> None:
    out = io.StringIO()
    configure_logging(logging.DEBUG, fmt="json", stream=out)
    log = bind("slither_stream.pipe", stage="score", topic="txns").bind(partition=1)
    log.debug("polled", extra={"offset": 7})
    log.info("overridden", extra={"partition": 2})
    first, second = (json.loads(line) for line in lines(out))
    assert first == {**first, "stage": "score", "topic": "txns", "partition": 1, "offset": 7,
                     "level": "DEBUG", "msg": "polled"}
    assert second["partition"] == 2


@pytest.mark.usefixtures("restore_root")
def test_text_format_and_reconfiguring_replaces_only_our_handler() -> None:
    other = logging.NullHandler()
    logging.getLogger().addHandler(other)
    first, second = io.StringIO(), io.StringIO()
    configure_logging("info", fmt="json", stream=first)
    configure_logging("INFO", fmt="text", stream=second)
    logging.getLogger("w").info("assigned", extra={"stage": "s", "partition": 0})
    assert first.getvalue() == ""
    (line,) = lines(second)
    assert " INFO    w: assigned stage=s partition=0" in line
    assert other in logging.getLogger().handlers


@pytest.mark.parametrize(("level", "fmt", "message"), [
    ("loud", "json", "unknown log level 'loud'"),
    ("info", "xml", "unknown log format 'xml'"),
    (True, "json", "log level"),
])
def test_bad_level_or_format_is_a_clear_error(level: object, fmt: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        configure_logging(level, fmt=fmt)  # type: ignore[arg-type]


@pytest.mark.usefixtures("restore_root")
def test_static_fields_are_added_to_every_line_without_overriding() -> None:
    out = io.StringIO()
    configure_logging("info", fmt="json", stream=out, fields={"member": "1", "stage": "all"})
    logging.getLogger("w").info("one")
    logging.getLogger("w").info("two", extra={"stage": "score"})
    first, second = (json.loads(line) for line in lines(out))
    assert (first["member"], first["stage"]) == ("1", "all")
    assert (second["member"], second["stage"]) == ("1", "score")
