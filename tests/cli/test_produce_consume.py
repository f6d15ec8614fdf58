"""``slither produce`` and ``slither consume`` round trips on both backends."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import orjson

from slither_stream.log import open_log
from slither_stream.log.partitioner import partition_for_key
from tests.cli.helpers import (
    ROOT,
    json_lines,
    slither,
    slither_executable,
)


def make_topic(log_url: str, name: str, partitions: int = 1) -> None:
    result = slither("topics", "create", name, "-p", str(partitions), "--log", log_url)
    assert result.returncode == 0, result.stderr


def test_round_trip_keys_partitions_and_bad_lines(log_url: str, tmp_path: Path,
                                                  unique_name: Callable[[str], str]) -> None:
    topic = unique_name("cli-orders")
    make_topic(log_url, topic, partitions=4)
    good = [{"user": f"u{i % 5}", "amount": i} for i in range(20)]
    lines = [orjson.dumps(doc).decode() for doc in good]
    lines.insert(3, "{not json")           # line 4
    lines.insert(10, '{"amount": 99}')     # line 11: no key field
    lines.insert(15, "")                   # blank lines are skipped silently
    source = tmp_path / "orders.jsonl"
    source.write_text("\n".join(lines) + "\n")

    produced = slither("produce", topic, str(source), "--key-field", "user", "--log", log_url)
    assert produced.returncode == 1, produced.stderr
    assert produced.stdout.strip() == f"produced 20 records to {topic}"
    assert "line 4: invalid JSON" in produced.stderr
    assert "line 11: no key: field 'user' not found" in produced.stderr
    assert "2 bad lines skipped" in produced.stderr

    consumed = slither("consume", topic, "--show-offsets", "--log", log_url)
    assert consumed.returncode == 0, consumed.stderr
    records = json_lines(consumed.stdout)
    assert sorted(r["value"]["amount"] for r in records) == list(range(20))
    for record in records:
        assert isinstance(record, dict)
        assert record["key"] == record["value"]["user"]
        assert record["partition"] == partition_for_key(record["key"].encode(), 4)
    # Per partition, the file's order is kept.
    by_partition: dict[int, list[int]] = {}
    for record in records:
        assert isinstance(record, dict)
        by_partition.setdefault(record["partition"], []).append(record["value"]["amount"])
    for amounts in by_partition.values():
        assert amounts == sorted(amounts)


def test_bad_lines_keep_their_numbers_across_blocks(log_url: str, tmp_path: Path,
                                                   unique_name: Callable[[str], str]) -> None:
    """Lines are judged a block at a time (``BLOCK_LINES``): line numbers, blank lines
    and key forms (string, number, null, missing, not an object) stay right across
    block boundaries, and every valid line is produced, in order."""
    from slither_stream.cli.produce import BLOCK_LINES

    topic = unique_name("cli-blocks")
    make_topic(log_url, topic, partitions=1)
    total = 2 * BLOCK_LINES + 500
    lines = [orjson.dumps({"user": f"u{n % 7}", "n": n}).decode() for n in range(total)]
    bad = {1: "{not json", BLOCK_LINES: '{"n": -1}', BLOCK_LINES + 1: '{"user": null}',
           2 * BLOCK_LINES + 1: "[1, 2]", total: "nope"}
    for number, text in bad.items():
        lines[number - 1] = text
    lines[BLOCK_LINES + 9] = "   "  # blank: skipped, not bad
    lines[5] = orjson.dumps({"user": 42, "n": 5}).decode()  # a number key: "42"
    source = tmp_path / "blocks.jsonl"
    source.write_text("\n".join(lines) + "\n")

    produced = slither("produce", topic, str(source), "--key-field", "user", "--log", log_url)
    assert produced.returncode == 1, produced.stderr
    good = total - len(bad) - 1
    assert produced.stdout.strip() == f"produced {good} records to {topic}"
    reported = [line.split(":")[0] for line in produced.stderr.splitlines()
                if line.startswith("line ")]
    assert reported == [f"line {n}" for n in sorted(bad)], produced.stderr
    assert f"line {BLOCK_LINES}: no key: field 'user' not found" in produced.stderr
    assert f"line {BLOCK_LINES + 1}: no key: field 'user' is null" in produced.stderr
    assert f"{len(bad)} bad lines skipped" in produced.stderr

    consumed = slither("consume", topic, "--show-offsets", "--log", log_url)
    assert consumed.returncode == 0, consumed.stderr
    records = json_lines(consumed.stdout)
    expected = [n for n in range(total) if n + 1 not in bad and n != BLOCK_LINES + 9]
    assert [r["value"]["n"] for r in records] == expected
    assert records[4]["key"] == "42" and records[4]["value"]["n"] == 5
    assert all(r["key"] == f"u{r['value']['n'] % 7}" for r in records if r["value"]["n"] != 5)


def test_key_pointer_and_stdin(log_url: str, unique_name: Callable[[str], str]) -> None:
    topic = unique_name("cli-pointer")
    make_topic(log_url, topic, partitions=3)
    docs = [{"meta": {"a/b": {"id": i}}, "n": i} for i in range(6)]
    data = b"".join(orjson.dumps(doc) + b"\n" for doc in docs)
    produced = slither("produce", topic, "-", "--key-pointer", "/meta/a~1b/id",
                       "--log", log_url, stdin=data)
    assert produced.returncode == 0, produced.stderr
    assert produced.stdout.strip() == f"produced 6 records to {topic}"
    records = json_lines(slither("consume", topic, "--show-offsets", "--log", log_url).stdout)
    keys = {r["value"]["n"]: r["key"] for r in records}
    assert keys == {i: str(i) for i in range(6)}

    missing = slither("produce", topic, "-", "--key-pointer", "/meta/nope", "--log", log_url,
                      stdin=b'{"meta": {}}\n')
    assert missing.returncode == 1
    assert "line 1: no key: pointer '/meta/nope' not found" in missing.stderr
    assert missing.stdout.strip() == f"produced 0 records to {topic}"


def test_group_resumes_and_from_beginning_rewinds(log_url: str,
                                                  unique_name: Callable[[str], str]) -> None:
    topic = unique_name("cli-group")
    group = unique_name("cli-reader")
    make_topic(log_url, topic)
    data = b"".join(orjson.dumps({"i": i}) + b"\n" for i in range(5))
    assert slither("produce", topic, "-", "--log", log_url, stdin=data).returncode == 0

    first = slither("consume", topic, "--group", group, "--limit", "2", "--log", log_url)
    assert json_lines(first.stdout) == [{"i": 0}, {"i": 1}]
    rest = slither("consume", topic, "--group", group, "--log", log_url)
    assert json_lines(rest.stdout) == [{"i": 2}, {"i": 3}, {"i": 4}]
    nothing = slither("consume", topic, "--group", group, "--log", log_url)
    assert nothing.returncode == 0 and nothing.stdout == ""
    again = slither("consume", topic, "--group", group, "--from-beginning", "--log", log_url)
    assert json_lines(again.stdout) == [{"i": i} for i in range(5)]

    with open_log(log_url) as log:
        committed = log.committed_offsets(group, log.partitions_of(topic))
    assert list(committed.values()) == [5]


def test_undecodable_records_are_reported_and_skipped(log_url: str,
                                                      unique_name: Callable[[str], str]) -> None:
    topic = unique_name("cli-undecodable")
    make_topic(log_url, topic)
    with open_log(log_url) as log, log.producer() as producer:
        producer.send(topic, b'{"ok": 1}')
        producer.send(topic, b"\xff not json")
        producer.send(topic, b'{"ok": 2}')
    result = slither("consume", topic, "--log", log_url)
    assert result.returncode == 1
    assert json_lines(result.stdout) == [{"ok": 1}, {"ok": 2}]
    assert f"topic={topic} partition=0 offset=1" in result.stderr
    assert "Traceback" not in result.stderr


def test_avro_produce_and_consume(log_url: str, tmp_path: Path,
                                  unique_name: Callable[[str], str]) -> None:
    topic = unique_name("cli-avro")
    make_topic(log_url, topic, partitions=2)
    txs = [{"txn_id": f"t{i}", "user_id": f"u{i}", "amount": 10.5 * i, "hour": i}
           for i in range(3)]
    lines = [orjson.dumps(tx).decode() for tx in txs]
    lines.append(orjson.dumps({**txs[0], "hour": "late"}).decode())  # line 4: wrong type
    source = tmp_path / "tx.jsonl"
    source.write_text("\n".join(lines) + "\n")
    produced = slither("produce", topic, str(source), "--schema", "slither.examples.Transaction",
                       "--key-field", "user_id", "--log", log_url)
    assert produced.returncode == 1
    assert produced.stdout.strip() == f"produced 3 records to {topic}"
    assert "line 4: cannot encode as avro" in produced.stderr and "hour" in produced.stderr

    as_avro = slither("consume", topic, "--schema", "slither.examples.Transaction",
                      "--log", log_url)
    assert as_avro.returncode == 0, as_avro.stderr
    assert sorted(json_lines(as_avro.stdout), key=lambda tx: tx["txn_id"]) == txs
    as_json = slither("consume", topic, "--log", log_url)
    assert as_json.returncode == 1  # Avro bytes are not JSON: reported, not printed


def test_follow_prints_new_records_until_sigterm(log_url: str,
                                                 unique_name: Callable[[str], str]) -> None:
    topic = unique_name("cli-follow")
    make_topic(log_url, topic)
    if log_url.startswith("embedded://"):
        # One process owns an embedded log: the follower reads what was there first.
        data = b"".join(orjson.dumps({"i": i}) + b"\n" for i in range(3))
        assert slither("produce", topic, "-", "--log", log_url, stdin=data).returncode == 0
    env = dict(os.environ, SLITHER_SCHEMAS=str(ROOT / "schemas"))
    follower = subprocess.Popen([slither_executable(), "consume", topic, "--follow",
                                 "--log", log_url], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, env=env, cwd=ROOT)
    try:
        if not log_url.startswith("embedded://"):
            data = b"".join(orjson.dumps({"i": i}) + b"\n" for i in range(3))
            assert slither("produce", topic, "-", "--log", log_url, stdin=data).returncode == 0
        lines = LineReader(follower)
        got = [orjson.loads(lines.line(60)) for _ in range(3)]
        assert got == [{"i": 0}, {"i": 1}, {"i": 2}]
        assert follower.poll() is None  # still following
        follower.send_signal(signal.SIGTERM)
        assert follower.wait(30) == 0
    finally:
        if follower.poll() is None:
            follower.kill()
            follower.wait(10)
    assert "Traceback" not in follower.stderr.read().decode()  # type: ignore[union-attr]


class LineReader:
    """Lines from a child's stdout with a deadline (select on the raw fd, own buffer)."""

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        assert process.stdout is not None
        self.fd = process.stdout.fileno()
        self.buffer = b""

    def line(self, timeout: float) -> bytes:
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buffer:
            remaining = deadline - time.monotonic()
            assert remaining > 0, "no line from the follower in time"
            ready, _, _ = select.select([self.fd], [], [], remaining)
            if ready:
                chunk = os.read(self.fd, 65536)
                assert chunk, "the follower exited"
                self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\n", 1)
        return line


def test_consume_stops_at_the_end_of_a_transactional_topic(
        log_url: str, unique_name: Callable[[str], str]) -> None:
    """Transaction markers take offsets no record shows; reading must still end."""
    topic = unique_name("cli-txn")
    make_topic(log_url, topic, partitions=2)
    with open_log(log_url) as log:
        producer = log.producer(transactional_id=unique_name("cli-txn-producer"))
        try:
            for batch in range(2):
                producer.begin_transaction()
                for i in range(3):
                    producer.produce(topic, orjson.dumps({"b": batch, "i": i}), f"k{i}".encode())
                producer.commit_transaction(30)
        finally:
            producer.close()
    for args in ([], ["--group", unique_name("cli-txn-group")]):
        started = time.monotonic()
        result = slither("consume", topic, *args, "--timeout", "20", "--log", log_url)
        assert result.returncode == 0, result.stderr
        assert len(json_lines(result.stdout)) == 6
        assert time.monotonic() - started < 20
