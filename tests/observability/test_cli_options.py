"""The shared click options: flags, environment defaults and bad values."""

from __future__ import annotations

import ast
from typing import Any

import click
from click.testing import CliRunner

from slither_stream.observability import observability_options


@click.command()
@observability_options
def show(**options: Any) -> None:
    """Print the parsed options."""
    click.echo(repr(sorted(options.items())))


def test_defaults_flags_and_environment() -> None:
    runner = CliRunner()
    result = runner.invoke(show, [], env={"SLITHER_METRICS_PORT": None})
    assert result.exit_code == 0, result.output
    assert result.output.strip() == repr(sorted({
        "metrics_port": None, "metrics_host": "127.0.0.1", "log_level": "info",
        "log_format": "text"}.items()))
    result = runner.invoke(show, ["--metrics-port", "9464", "--log-format", "json"],
                           env={"SLITHER_METRICS_HOST": "0.0.0.0", "SLITHER_LOG_LEVEL": "DEBUG"})
    assert result.exit_code == 0, result.output
    parsed = dict(ast.literal_eval(result.output))
    assert parsed == {"metrics_port": 9464, "metrics_host": "0.0.0.0", "log_level": "debug",
                      "log_format": "json"}


def test_bad_values_are_usage_errors_naming_the_option() -> None:
    runner = CliRunner()
    result = runner.invoke(show, ["--metrics-port", "70000"])
    assert result.exit_code == 2
    assert "--metrics-port" in result.output and "70000" in result.output
    result = runner.invoke(show, ["--log-format", "xml"])
    assert result.exit_code == 2
    assert "--log-format" in result.output
