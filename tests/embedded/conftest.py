"""Fixtures for embedded-only tests: a fresh embedded log per test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from slither_stream.log.embedded import EmbeddedLog


@pytest.fixture
def log_dir(tmp_path: Path) -> Path:
    return tmp_path / "log"


@pytest.fixture
def open_embedded(log_dir: Path) -> Iterator[Callable[..., EmbeddedLog]]:
    """Open the test's log directory (again); everything opened is closed after."""
    opened: list[EmbeddedLog] = []

    def opener(**options: Any) -> EmbeddedLog:
        log = EmbeddedLog(log_dir, **options)
        opened.append(log)
        return log

    yield opener
    for log in opened:
        log.close()


@pytest.fixture
def elog(open_embedded: Callable[..., EmbeddedLog]) -> EmbeddedLog:
    return open_embedded()
