"""Bad flags, unknown topics and unreachable brokers: one line, non-zero, no traceback."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable

import pytest

from tests.cli.helpers import assert_one_line_error, slither


def test_unknown_topic(log_url: str, unique_name: Callable[[str], str]) -> None:
    missing = unique_name("cli-nope")
    assert_one_line_error(slither("consume", missing, "--log", log_url), 2, missing)
    produced = slither("produce", missing, "-", "--log", log_url, stdin=b'{"a": 1}\n')
    assert_one_line_error(produced, 2, missing)


@pytest.mark.parametrize("args, fragment", [
    (["produce", "t", "-", "--bogus"], "--bogus"),
    (["consume", "t", "--limit", "0"], "--limit"),
    (["consume", "t", "--limit", "many"], "--limit"),
    (["produce", "t", "/no/such/file.jsonl"], "/no/such/file.jsonl"),
    (["produce", "t", "-", "--key-field", "a", "--key-pointer", "/a"], "either"),
    (["produce", "t", "-", "--key-pointer", "a"], "must start with '/'"),
    (["topics", "create"], "NAME"),
    (["topics", "frobnicate"], "frobnicate"),
])
def test_bad_flags(tmp_path: object, args: list[str], fragment: str) -> None:
    result = slither(*args, "--log", "embedded://" + str(tmp_path), stdin=b"")
    assert_one_line_error(result, 2, fragment)


def test_bad_log_url() -> None:
    result = slither("topics", "list", "--log", "nosuch://x")
    assert_one_line_error(result, 2, "nosuch://x")


def test_unreachable_broker_fails_fast() -> None:
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    started = time.monotonic()
    for args in (["topics", "list"], ["consume", "t"]):
        result = slither(*args, "--log", f"kafka://127.0.0.1:{port}", timeout=60)
        assert_one_line_error(result, 3, f"127.0.0.1:{port}")
    assert time.monotonic() - started < 40


def test_log_url_comes_from_the_environment(tmp_path: object,
                                            unique_name: Callable[[str], str]) -> None:
    name = unique_name("cli-env")
    env = {"SLITHER_LOG": f"embedded://{tmp_path}/envlog"}
    assert slither("topics", "create", name, env=env).returncode == 0
    assert name in slither("topics", "list", env=env).stdout.splitlines()
