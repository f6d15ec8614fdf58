"""Exclusive ownership of an embedded log directory.

The embedded log is a single-process system: two writers on one RocksDB directory
would corrupt offsets. An advisory ``flock`` on ``<dir>/slither.lock`` is held for
as long as the log is open. ``flock`` locks belong to the open file description, so
the same process opening the directory a second time conflicts too, and the kernel
drops the lock when the owner dies (even by ``kill -9``), so a crash never leaves a
stale lock behind.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from slither_stream.errors import LogLockedError

LOCK_FILE = "slither.lock"


class DirectoryLock:
    """Holds the lock on one log directory until :meth:`release`."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / LOCK_FILE
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(fd)
            os.close(fd)
            raise LogLockedError(
                f"the embedded log at {directory} is already open{holder}; one process "
                f"may open an embedded log directory at a time (close the other log, or "
                f"use kafka:// for several processes)"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd: int | None = fd

    def release(self) -> None:
        """Drop the lock. Idempotent."""
        fd, self._fd = self._fd, None
        if fd is not None:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)


def _read_holder(fd: int) -> str:
    try:
        text = os.pread(fd, 64, 0).decode("ascii", "replace").strip()
    except OSError:
        return ""
    if not text.isdigit():
        return ""
    if int(text) == os.getpid():
        return " by this process"
    return f" by process {text}"
