"""Fixtures for store tests: a StoreApp factory on the current log backend."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from slither_stream.store import Store, StoreApp

AppFactory = Callable[..., StoreApp]


@pytest.fixture
def app_name(unique_name: Callable[[str], str]) -> str:
    """A per-test app name, so changelog topics never collide on the shared broker."""
    return unique_name("app")


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "stores"


@pytest.fixture
def make_app(log_url: str, app_name: str, data_dir: Path) -> Iterator[AppFactory]:
    """``make_app(stores, **options)``: an unstarted StoreApp on this test's log.

    Apps are stopped at teardown if the test left them running.
    """
    made: list[StoreApp] = []

    def factory(stores: list[Store | type[Store]], **options: Any) -> StoreApp:
        options.setdefault("log", log_url)
        options.setdefault("app", app_name)
        options.setdefault("data_dir", data_dir)
        options.setdefault("grace_period", 0.05)
        app = StoreApp(stores, **options)
        made.append(app)
        return app

    yield factory
    for app in made:
        app.stop()
