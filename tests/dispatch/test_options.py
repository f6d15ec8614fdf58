"""Option validation at the edge, and the one place defaults come from."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from slither_stream import dispatch
from slither_stream.context import Context
from slither_stream.dispatch.options import build_options
from slither_stream.errors import ConfigError
from tests.dispatch.funcs import double


@pytest.fixture(autouse=True)
def clean_configuration(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ("BATCH_SIZE", "MAX_IN_FLIGHT", "TIMEOUT", "ORDERING", "ON_ERROR"):
        monkeypatch.delenv(f"SLITHER_DISPATCH_{name}", raising=False)
    dispatch.reset_configuration()
    yield
    dispatch.reset_configuration()


def test_seed_defaults() -> None:
    opts = build_options({"executor": dispatch.Inline(double)})
    assert opts.batch_size == 64
    assert opts.max_in_flight == 8
    assert opts.ordering == "preserve"
    assert opts.on_error == dispatch.Halt()
    assert opts.timeout == 30.0
    assert isinstance(opts.strategy, dispatch.FixedBatch)
    assert opts.context is None


@pytest.mark.parametrize(("options", "named"), [
    ({"batch_sise": 3}, "did you mean 'batch_size'"),
    ({"colour": "red"}, "unknown dispatch option 'colour'"),
    ({"batch_size": "8"}, "'batch_size' must be an int"),
    ({"batch_size": True}, "'batch_size' must be an int"),
    ({"batch_size": 0}, "'batch_size' must be >= 1"),
    ({"max_in_flight": -2}, "'max_in_flight' must be >= 1"),
    ({"timeout": 0}, "'timeout' must be > 0"),
    ({"timeout": "soon"}, "'timeout' must be a number"),
    ({"ordering": "random"}, "'ordering' must be one of"),
    ({"on_error": "ignore"}, "unknown error policy 'ignore' for on_error"),
    ({"on_error": "route"}, "dispatch.fallback(fn)"),
    ({"strategy": dispatch.WeightedBatch}, "WeightedBatch needs arguments"),
    ({"strategy": object()}, "'strategy' must have a batches"),
    ({"context": {"pipe": "x"}}, "'context' must be a slither_stream.Context"),
])
def test_bad_options_name_the_option(options: dict[str, object], named: str) -> None:
    with pytest.raises(ConfigError, match=None) as caught:
        dispatch.run([1], executor=dispatch.Inline(double), **options)
    assert named in str(caught.value)


def test_executor_is_required_and_checked() -> None:
    with pytest.raises(ConfigError, match="'executor' is required"):
        dispatch.run([1])
    with pytest.raises(ConfigError, match="execute_batch"):
        dispatch.run([1], executor="processes")


def test_stream_validates_before_iterating() -> None:
    with pytest.raises(ConfigError, match="batch_size"):
        dispatch.stream([1], executor=dispatch.Inline(double), batch_size=-1)


def test_configure_sets_defaults_and_call_overrides() -> None:
    dispatch.configure(batch_size=5, ordering="as_completed", on_error="skip")
    opts = build_options({"executor": dispatch.Inline(double)})
    assert (opts.batch_size, opts.ordering, opts.on_error) == (5, "as_completed",
                                                              dispatch.Skip())
    assert build_options({"executor": dispatch.Inline(double), "batch_size": 9}).batch_size == 9
    dispatch.configure(batch_size=None)
    assert build_options({"executor": dispatch.Inline(double)}).batch_size == 64


def test_configure_validates_now() -> None:
    with pytest.raises(ConfigError, match="max_in_flight"):
        dispatch.configure(max_in_flight=0)
    with pytest.raises(ConfigError, match="unknown configurable dispatch option 'executor'"):
        dispatch.configure(executor=dispatch.Inline(double))


def test_environment_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLITHER_DISPATCH_BATCH_SIZE", "7")
    monkeypatch.setenv("SLITHER_DISPATCH_TIMEOUT", "2.5")
    opts = build_options({"executor": dispatch.Inline(double)})
    assert (opts.batch_size, opts.timeout) == (7, 2.5)
    dispatch.configure(batch_size=3)  # configure wins over the environment
    assert build_options({"executor": dispatch.Inline(double)}).batch_size == 3


def test_bad_environment_value_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLITHER_DISPATCH_MAX_IN_FLIGHT", "many")
    with pytest.raises(ConfigError, match="SLITHER_DISPATCH_MAX_IN_FLIGHT"):
        build_options({"executor": dispatch.Inline(double)})


def test_timeout_none_means_no_limit_and_context_is_kept() -> None:
    ctx = Context(pipe="p")
    opts = build_options({"executor": dispatch.Inline(double), "timeout": None,
                          "context": ctx})
    assert opts.timeout is None
    assert opts.context is ctx


@pytest.mark.parametrize(("make", "named"), [
    (lambda: dispatch.retry(0), "max_attempts"),
    (lambda: dispatch.retry(2, backoff=-1), "backoff"),
    (lambda: dispatch.retry(2, then="retry"), "not another retry"),
    (lambda: dispatch.fallback("nope"), "fallback needs a callable"),
    (lambda: dispatch.FixedBatch(0), "FixedBatch batch_size"),
    (lambda: dispatch.WeightedBatch(0, len), "max_weight must be > 0"),
    (lambda: dispatch.KeyPartition(window=0), "window"),
    (lambda: dispatch.Threads(double, max_workers=0), "max_workers"),
    (lambda: dispatch.Processes(lambda xs: xs), "lambdas"),
    (lambda: dispatch.Processes("no_colon"), "'module:function'"),
    (lambda: dispatch.Processes("__main__:f"), "__main__"),
    (lambda: dispatch.Processes("tests.dispatch.funcs:double", serializer="xml"),
     "serializer"),
    (lambda: dispatch.Inline("tests.dispatch.funcs:missing"), "not found"),
    (lambda: dispatch.Inline("tests.dispatch.funcs:not_callable"), "not callable"),
    (lambda: dispatch.Inline("no_such_module_xyz:f"), "cannot import module"),
])
def test_constructors_reject_bad_arguments(make: object, named: str) -> None:
    with pytest.raises(ConfigError) as caught:
        make()  # type: ignore[operator]
    assert named in str(caught.value)
