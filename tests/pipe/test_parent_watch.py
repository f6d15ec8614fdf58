"""A worker process stops when its supervisor is SIGKILLed (no orphaned members)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil

from slither_stream.pipe.deploy.parent_watch import ParentWatch

CHILD = textwrap.dedent("""
    import sys, threading
    from pathlib import Path
    from slither_stream.pipe.deploy.parent_watch import ParentWatch
    stopped = threading.Event()
    with ParentWatch(stopped.set):
        Path(sys.argv[1]).write_text("watching")
        stopped.wait(60)
    Path(sys.argv[1]).write_text("parent gone" if stopped.is_set() else "timed out")
""")

PARENT = textwrap.dedent("""
    import subprocess, sys, time
    child = subprocess.Popen([sys.executable, "-c", sys.argv[1], sys.argv[2]])
    print(child.pid, flush=True)
    time.sleep(120)
""")


def test_child_is_told_when_its_parent_is_killed(tmp_path: Path) -> None:
    marker = tmp_path / "state"
    parent = subprocess.Popen([sys.executable, "-c", PARENT, CHILD, str(marker)],
                              stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    child = psutil.Process(int(parent.stdout.readline()))
    deadline = time.monotonic() + 30
    while (marker.read_text() if marker.exists() else "") != "watching":
        assert time.monotonic() < deadline, "child never started watching"
        time.sleep(0.05)
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait(10)
    child.wait(20)  # exits on its own, well before its 60 s wait
    assert marker.read_text() == "parent gone"


def test_close_ends_the_watch_without_calling_back() -> None:
    called: list[bool] = []
    watch = ParentWatch(lambda: called.append(True)).start()
    watch.close()
    watch.close()
    assert called == []
