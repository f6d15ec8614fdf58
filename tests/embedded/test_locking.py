"""One opener per directory: a second one gets LogLockedError, never a shared log."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from slither_stream.errors import LogClosedError, LogLockedError
from slither_stream.log import open_log
from slither_stream.log.embedded import EmbeddedLog


def test_second_opener_in_same_process(elog: EmbeddedLog, log_dir: Path) -> None:
    with pytest.raises(LogLockedError, match="already open by this process"):
        EmbeddedLog(log_dir)
    with pytest.raises(LogLockedError):
        open_log(f"embedded://{log_dir}")
    elog.create_topic("still-fine", 1)  # the first opener is unaffected
    assert elog.list_topics() == ["still-fine"]


def test_second_opener_in_other_process(elog: EmbeddedLog, log_dir: Path) -> None:
    script = textwrap.dedent("""
        import sys
        from slither_stream.errors import LogLockedError
        from slither_stream.log.embedded import EmbeddedLog
        try:
            EmbeddedLog(sys.argv[1])
        except LogLockedError as error:
            print(error)
            sys.exit(3)
        sys.exit(0)
    """)
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[2]))
    done = subprocess.run([sys.executable, "-c", script, str(log_dir)], capture_output=True,
                          text=True, env=env, timeout=60, check=False)
    assert done.returncode == 3, done.stderr
    assert f"process {os.getpid()}" in done.stdout
    assert str(log_dir) in done.stdout


def test_reopen_after_close(open_embedded: Callable[..., EmbeddedLog]) -> None:
    first = open_embedded()
    first.create_topic("t", 2)
    first.producer().send("t", b"v", b"k")
    first.close()
    with pytest.raises(LogClosedError):
        first.describe_topic("t")
    second = open_embedded()
    assert second.describe_topic("t").partitions == 2
    assert sum(second.end_offsets(second.partitions_of("t")).values()) == 1


def test_path_that_is_a_file(tmp_path: Path) -> None:
    target = tmp_path / "file"
    target.write_text("not a log")
    with pytest.raises(Exception, match="file"):
        EmbeddedLog(target)
