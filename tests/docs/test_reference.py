"""The reference pages cover what the code defines, derived from the code itself.

* every name in the ``__all__`` of each public package has a docstring (griffe reads
  them as mkdocstrings does, so attribute docstrings of constants count) and a
  ``::: package.name`` entry on a reference page;
* every Prometheus series the metrics registry defines is on the metrics page with
  its labels;
* every telemetry event the code names is on the telemetry page;
* every ``SLITHER_*`` environment variable the library reads, and every option of
  the typed option classes and of ``slither worker``, is on the configuration page;
* every ``SlitherError`` subclass is on the error-types page.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import pkgutil
import re
from collections.abc import Iterator
from functools import cache
from typing import Any

import griffe
import pytest
from prometheus_client.metrics import MetricWrapperBase

import slither_stream
from tests.docs.blocks import DOCS, ROOT

PUBLIC_PACKAGES = ("slither_stream", "slither_stream.log", "slither_stream.store",
                   "slither_stream.dispatch", "slither_stream.pipe", "slither_stream.serde",
                   "slither_stream.observability")
REFERENCE = DOCS / "reference"
ENTRY = re.compile(r"^::: (\S+)", re.MULTILINE)


def public_names() -> Iterator[tuple[str, str]]:
    for package in PUBLIC_PACKAGES:
        for name in importlib.import_module(package).__all__:
            yield package, name


@cache
def loaded() -> griffe.Module:
    loader = griffe.GriffeLoader(search_paths=[str(ROOT)])
    module = loader.load("slither_stream")
    loader.resolve_aliases(implicit=False, external=False)
    assert isinstance(module, griffe.Module)
    return module


def docstring_of(package: str, name: str) -> str:
    module = loaded() if package == "slither_stream" else \
        loaded()[package.removeprefix("slither_stream.")]
    found = module[name]
    target = found.final_target if found.is_alias else found
    return target.docstring.value.strip() if target.docstring else ""


def test_every_public_name_has_a_docstring() -> None:
    missing = [f"{package}.{name}" for package, name in public_names()
               if not docstring_of(package, name)]
    assert not missing, "public names without a docstring: " + ", ".join(missing)


def test_every_public_name_has_a_reference_entry() -> None:
    entries = {entry for page in REFERENCE.rglob("*.md")
               for entry in ENTRY.findall(page.read_text())}
    missing = [f"{package}.{name}" for package, name in public_names()
               if f"{package}.{name}" not in entries]
    assert not missing, "public names on no reference page: " + ", ".join(missing)


# -- metrics ------------------------------------------------------------------------


def defined_series() -> list[tuple[str, tuple[str, ...]]]:
    """(exposed name, labels) of every series a MetricsRegistry and a federating
    supervisor define; counters as ``<name>_total``."""
    from slither_stream.observability import MetricsRegistry, federation

    registry = MetricsRegistry()
    series = []
    for metric in vars(registry).values():
        if isinstance(metric, MetricWrapperBase):
            suffix = "_total" if metric._type == "counter" else ""
            series.append((metric._name + suffix, tuple(metric._labelnames)))
    for family in registry.lag.describe():
        suffix = "_total" if family.type == "counter" else ""
        series.append((family.name + suffix, tuple(family._labelnames)))
    series += [(name, ("member",)) for name in federation.METRIC_NAMES]
    return series


def test_every_metric_is_documented_with_its_labels() -> None:
    rows = {}
    for line in (REFERENCE / "metrics.md").read_text().splitlines():
        found = re.match(r"\| `(slither_[a-z0-9_]+)` \|", line)
        if found:
            rows[found.group(1)] = line
    problems = []
    for name, labels in defined_series():
        row = rows.get(name)
        if row is None:
            problems.append(f"{name} is not on the metrics page")
            continue
        cells = [cell.strip() for cell in row.strip("|").split("|")]
        listed = set(re.findall(r"`([a-z_]+)`", cells[2]))
        if listed != set(labels):
            problems.append(f"{name}: labels {sorted(listed)} on the page, "
                            f"{sorted(labels)} in the code")
    documented = set(rows) - {name for name, _ in defined_series()}
    problems += [f"{name} is on the page but not in the code" for name in sorted(documented)]
    assert not problems, "\n".join(problems)


# -- telemetry ----------------------------------------------------------------------


def all_modules() -> Iterator[Any]:
    for info in pkgutil.walk_packages(slither_stream.__path__, "slither_stream."):
        if info.name.startswith("slither_stream.cli"):
            continue
        yield importlib.import_module(info.name)


def named_events() -> set[str]:
    """Every event (or span prefix) the code names as a tuple constant."""
    events = set()
    for module in all_modules():
        for value in vars(module).values():
            if isinstance(value, tuple) and len(value) >= 3 and value[0] == "slither" \
                    and all(isinstance(part, str) for part in value):
                events.add(".".join(value))
    return events


SPAN_ENDS = ("start", "stop", "exception")
"""What :func:`slither_stream.telemetry.span` appends to a span's prefix."""


def test_every_telemetry_event_is_documented() -> None:
    page = (REFERENCE / "telemetry.md").read_text()
    spans = set(re.findall(r"^\| `(slither\.[a-z.]+)` \|", page.split("## Events")[0],
                           re.MULTILINE))

    def documented(event: str) -> bool:
        prefix, _, end = event.rpartition(".")
        # an event, a span's prefix or one of its ends, or the prefix of documented events
        return (f"`{event}`" in page or f"`{event}." in page or event in spans
                or (end in SPAN_ENDS and prefix in spans))

    missing = sorted(event for event in named_events() if not documented(event))
    assert not missing, "events not on the telemetry page: " + ", ".join(missing)


# -- configuration ------------------------------------------------------------------


def test_every_environment_variable_is_documented() -> None:
    page = (REFERENCE / "configuration.md").read_text()
    used = set()
    for path in (ROOT / "slither_stream").rglob("*.py"):
        used |= set(re.findall(r"SLITHER_[A-Z_]*[A-Z]", path.read_text()))
    used.discard("SLITHER_DISPATCH")  # the prefix of the SLITHER_DISPATCH_* variables
    missing = sorted(name for name in used if f"`{name}`" not in page)
    assert not missing, "environment variables not on the configuration page: " \
        + ", ".join(missing)


def option_names() -> dict[str, list[str]]:
    from slither_stream.cli.worker import worker_command
    from slither_stream.dispatch.options import BUILTIN_DEFAULTS, OPTION_NAMES
    from slither_stream.log.embedded._options import LogOptions
    from slither_stream.log.kafka._config import (
        CONSUMER_DEFAULTS,
        PRODUCER_DEFAULTS,
        KafkaSettings,
    )
    from slither_stream.pipe import Pipe
    from slither_stream.serde import RegistryConfig
    from slither_stream.store import RestoreOptions, StoreApp, StoreReader, TableSpec, ViewSpec

    def parameters(function: Any) -> list[str]:
        return [name for name, parameter in inspect.signature(function).parameters.items()
                if name != "self" and parameter.kind is parameter.KEYWORD_ONLY]

    def fields(cls: Any) -> list[str]:
        """The fields with a default: the options (required ones are positional)."""
        return [field.name for field in dataclasses.fields(cls) if field.init and (
            field.default is not dataclasses.MISSING
            or field.default_factory is not dataclasses.MISSING)]

    return {
        "embedded log": fields(LogOptions),
        "Kafka log": [name for name in fields(KafkaSettings) if name != "bootstrap_servers"],
        "Kafka defaults": [*PRODUCER_DEFAULTS, *CONSUMER_DEFAULTS],
        "Pipe": parameters(Pipe.__init__),
        "local stage": parameters(Pipe.local),
        "compute stage": parameters(Pipe.compute),
        "dispatch": [*OPTION_NAMES, *BUILTIN_DEFAULTS],
        "StoreApp": parameters(StoreApp.__init__),
        "StoreReader": parameters(StoreReader.__init__),
        "TableSpec": fields(TableSpec),
        "ViewSpec": fields(ViewSpec),
        "RestoreOptions": fields(RestoreOptions),
        "RegistryConfig": fields(RegistryConfig),
        "slither worker": [opt for param in worker_command.params for opt in param.opts
                           if opt.startswith("--") and opt != "--help"],
    }


@pytest.mark.parametrize("group", sorted(option_names()))
def test_every_option_is_documented(group: str) -> None:
    page = (REFERENCE / "configuration.md").read_text()
    missing = [name for name in option_names()[group] if f"`{name}`" not in page]
    assert not missing, f"{group} options not on the configuration page: {missing}"


# -- errors -------------------------------------------------------------------------


def test_every_error_type_is_documented() -> None:
    from slither_stream.errors import SlitherError

    list(all_modules())  # import every module, so every subclass is defined
    found: set[str] = set()
    pending = [SlitherError]
    while pending:
        cls = pending.pop()
        found.add(cls.__name__)
        pending += cls.__subclasses__()
    page = (REFERENCE / "errors.md").read_text()
    missing = sorted(name for name in found if name not in page)
    assert not missing, "error types not on the errors page: " + ", ".join(missing)
