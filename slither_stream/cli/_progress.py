"""Progress on stderr for long CLI commands, kept off stdout (which carries data).

A bar when the total size is known and stderr is a terminal, an in-place counter when
it is not known; nothing when stderr is not a terminal (logs and pipes get only the
final summary line the command prints itself).
"""

from __future__ import annotations

import sys
import time
from types import TracebackType
from typing import Any, TextIO

import click

REDRAW_EVERY_S = 0.2


class Progress:
    """Counts records and input bytes; draws at most every ``REDRAW_EVERY_S`` (the bar
    as well: click redraws it on every update, which cost more than producing)."""

    def __init__(self, label: str, total_bytes: int | None, *, enabled: bool | None = None,
                 stream: TextIO | None = None) -> None:
        self.label = label
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self.records = 0
        self._bar: Any = None
        self._counter_drawn = False
        self._last_draw = 0.0
        self._undrawn_bytes = 0  # advanced, not yet given to the bar
        if self.enabled and total_bytes:
            self._bar = click.progressbar(length=total_bytes, label=label, file=self.stream,
                                          show_pos=False, show_percent=True, show_eta=True)
            self._bar.__enter__()

    def advance(self, nbytes: int, records: int = 1) -> None:
        self.records += records
        if not self.enabled:
            return
        self._undrawn_bytes += nbytes
        now = time.monotonic()
        if now - self._last_draw < REDRAW_EVERY_S:
            return
        self._last_draw = now
        if self._bar is not None:
            self._bar.update(self._undrawn_bytes)
            self._undrawn_bytes = 0
            return
        self.stream.write(f"\r{self.label}: {self.records} records")
        self.stream.flush()
        self._counter_drawn = True

    def close(self) -> None:
        if self._bar is not None:
            if self._undrawn_bytes:
                self._bar.update(self._undrawn_bytes)
                self._undrawn_bytes = 0
            self._bar.__exit__(None, None, None)
            self._bar = None
        elif self._counter_drawn:
            self.stream.write(f"\r{self.label}: {self.records} records\n")
            self.stream.flush()
            self._counter_drawn = False

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
