"""Views: session and global registration, ctx.view, batch contract, timeouts."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import pytest

from slither_stream.context import Context
from slither_stream.errors import ConfigError, StoreError
from slither_stream.store import Store, TableSpec, ViewRegistry, ViewSpec
from tests.store.conftest import AppFactory
from tests.store.stores import Stamped


class Lookups(Store):
    """A store with views only (never started in the unit tests)."""

    name = "lookups"

    def tables(self) -> Sequence[TableSpec]:
        return [TableSpec("t")]

    def views(self) -> Sequence[ViewSpec]:
        return [
            ViewSpec("double", lambda key: key * 2),
            ViewSpec("double_batch", lambda keys: [k * 2 for k in keys], mode="batch"),
            ViewSpec("short_batch", lambda keys: keys[:-1], mode="batch"),
            ViewSpec("answer", lambda: 42, scope="global"),
        ]


def test_session_views_live_exactly_as_long_as_the_session() -> None:
    registry = ViewRegistry()
    ctx = Context(pipe="p", view_resolver=registry.resolve)
    with registry.session(ctx.session_id, [Lookups()]):
        assert ctx.view("double", key=21) == 42
        assert ctx.view("double_batch", keys=[1, 2, 3]) == [2, 4, 6]
        assert registry.sessions() == [ctx.session_id]
        assert "answer" not in registry.names(ctx.session_id)  # global: app's job
    assert registry.sessions() == []
    with pytest.raises(StoreError, match="no view 'double' for session"):
        ctx.view("double", key=1)


def test_session_views_are_removed_when_the_run_fails() -> None:
    registry = ViewRegistry()
    with pytest.raises(RuntimeError, match="stage blew up"), \
            registry.session("run-1", [Lookups()]):
        raise RuntimeError("stage blew up")
    assert registry.sessions() == []
    with pytest.raises(StoreError, match="available: none"):
        registry.resolve("run-1", "double")


def test_sessions_are_isolated_and_globals_are_shared() -> None:
    registry = ViewRegistry()
    registry.register_global([ViewSpec("answer", lambda: 42, scope="global")])
    registry.register_session("a", [ViewSpec("who", lambda: "a")])
    registry.register_session("b", [ViewSpec("who", lambda: "b")])
    assert registry.resolve("a", "who")() == "a"
    assert registry.resolve("b", "who")() == "b"
    assert registry.resolve("b", "answer")() == 42
    registry.unregister_session("a")
    with pytest.raises(StoreError, match="available: answer"):
        registry.resolve("a", "who")
    with pytest.raises(ConfigError, match="already registered: answer"):
        registry.register_global([ViewSpec("answer", lambda: 0)])
    with pytest.raises(ConfigError, match="already has views: who"):
        registry.register_session("b", [ViewSpec("who", lambda: "again")])


def test_batch_views_check_their_contract() -> None:
    registry = ViewRegistry()
    registry.register_session("s", Lookups().views())
    with pytest.raises(StoreError, match="returned 2 results for 3 keys"):
        registry.resolve("s", "short_batch")(keys=[1, 2, 3])
    with pytest.raises(StoreError, match=r"is called with keys=\[...\]"):
        registry.resolve("s", "double_batch")(key=1)


def test_view_timeout_is_a_clear_error() -> None:
    release = threading.Event()
    registry = ViewRegistry()
    registry.register_session("s", [ViewSpec("slow", lambda: release.wait(10), timeout=0.05),
                                    ViewSpec("fast", lambda: "ok", timeout=5)])
    try:
        with pytest.raises(StoreError, match=r"did not answer within 0.05s"):
            registry.resolve("s", "slow")()
        assert registry.resolve("s", "fast")() == "ok"
    finally:
        release.set()
        registry.close()


@pytest.mark.parametrize(("fields", "message"), [
    ({"name": "", "handler": print}, "bad view name"),
    ({"name": "v", "handler": 3}, "not callable"),
    ({"name": "v", "handler": print, "mode": "stream"}, "mode must be"),
    ({"name": "v", "handler": print, "scope": "pipe"}, "scope must be"),
    ({"name": "v", "handler": print, "timeout": 0}, "timeout must be > 0"),
])
def test_bad_view_declarations(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        ViewSpec(**fields)


def test_app_registers_global_views_and_runs_sessions(make_app: AppFactory) -> None:
    app = make_app([Stamped(version=7, size=20)])
    with app:
        ctx = app.context(pipe="scoring")
        assert ctx.view("version") == 7  # global, registered at start
        with app.session(ctx.session_id):
            assert ctx.view("item", key=("item", 3)) == {"version": 7, "i": 3}
            assert ctx.view("items_batch", keys=[("item", 1), ("item", 99)]) == [
                {"version": 7, "i": 1}, None]
        with pytest.raises(StoreError, match="no view 'item'"):
            ctx.view("item", key=("item", 3))
        assert ctx.stores["stamped"].table("items").size() == 20
    with pytest.raises(StoreError, match="no view 'version'"):
        ctx.view("version")


def test_stores_can_be_configured_by_import_path(make_app: AppFactory) -> None:
    with make_app(["tests.store.stores:Counters"]) as app:
        assert app["counters"].table("plain").size() == 0
    with pytest.raises(ConfigError, match=r"expected 'package\.module:ClassName'"):
        make_app(["tests.store.stores.Counters"])
    with pytest.raises(ConfigError, match="is not a Store subclass"):
        make_app(["tests.store.stores:value_for"])
    with pytest.raises(ConfigError, match="cannot import store module 'no_such_module'"):
        make_app(["no_such_module:Store"])
