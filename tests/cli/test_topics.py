"""``slither topics`` on both backends, as a subprocess."""

from __future__ import annotations

from collections.abc import Callable

import orjson

from tests.cli.helpers import assert_one_line_error, slither


def test_topic_lifecycle(log_url: str, unique_name: Callable[[str], str]) -> None:
    name = unique_name("cli-topics")
    created = slither("topics", "create", name, "--partitions", "3", "--log", log_url)
    assert created.returncode == 0, created.stderr
    assert created.stdout.strip() == f"created {name}"

    listed = slither("topics", "list", "--log", log_url)
    assert name in listed.stdout.splitlines()

    described = slither("topics", "describe", name, "--json", "--log", log_url)
    info = orjson.loads(described.stdout)
    assert info["partitions"] == 3 and info["compacted"] is False
    assert [row["end_offset"] for row in info["offsets"]] == [0, 0, 0]

    again = slither("topics", "create", name, "--partitions", "3", "--log", log_url)
    assert_one_line_error(again, 2, name, "exists")
    same_shape = slither("topics", "create", name, "-p", "3", "--if-not-exists",
                         "--log", log_url)
    assert same_shape.returncode == 0, same_shape.stderr

    deleted = slither("topics", "delete", name, "--log", log_url)
    assert deleted.returncode == 0 and f"deleted {name}" in deleted.stdout
    assert name not in slither("topics", "list", "--log", log_url).stdout.splitlines()
    assert_one_line_error(slither("topics", "delete", name, "--log", log_url), 2, name)
    assert slither("topics", "delete", name, "--if-exists", "--log", log_url).returncode == 0


def test_compacted_topic_is_described_as_such(log_url: str,
                                              unique_name: Callable[[str], str]) -> None:
    name = unique_name("cli-compacted")
    result = slither("topics", "create", name, "--compacted", "--log", log_url)
    assert result.returncode == 0, result.stderr
    text = slither("topics", "describe", name, "--log", log_url).stdout
    assert "cleanup       compact" in text
    long_list = slither("topics", "list", "-l", "--log", log_url).stdout
    assert f"{name}\tpartitions=1\tcleanup=compact" in long_list.splitlines()


def test_describe_unknown_topic_is_one_line(log_url: str,
                                            unique_name: Callable[[str], str]) -> None:
    missing = unique_name("cli-missing")
    assert_one_line_error(slither("topics", "describe", missing, "--log", log_url), 2, missing)


def test_bad_partition_count_is_a_usage_error(log_url: str) -> None:
    result = slither("topics", "create", "x", "--partitions", "0", "--log", log_url)
    assert_one_line_error(result, 2, "--partitions")
