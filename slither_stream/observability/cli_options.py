"""Click options shared by every long-running ``slither`` command.

Apply :func:`observability_options` to a command to give it ``--metrics-port``,
``--metrics-host``, ``--log-level`` and ``--log-format`` with consistent names,
defaults and environment variables (``SLITHER_METRICS_PORT``,
``SLITHER_METRICS_HOST``, ``SLITHER_LOG_LEVEL``, ``SLITHER_LOG_FORMAT``). The
command receives them as keyword arguments ``metrics_port``, ``metrics_host``,
``log_level`` and ``log_format``; pass them to :func:`configure_logging` and
:func:`~slither_stream.observability.runtime.start_observability`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from slither_stream.observability.logs import FORMATS
from slither_stream.observability.server import DEFAULT_HOST

F = TypeVar("F", bound=Callable[..., Any])

LEVELS = ("debug", "info", "warning", "error", "critical")


def observability_options(command: F) -> F:
    """Add the metrics and logging options to a click command."""
    options = [
        click.option("--metrics-port", type=click.IntRange(0, 65535), default=None,
                     envvar="SLITHER_METRICS_PORT", show_envvar=True,
                     help="Serve /metrics, /healthz and /livez on this port (0: any free "
                          "port). Off when not given."),
        click.option("--metrics-host", default=DEFAULT_HOST, show_default=True,
                     envvar="SLITHER_METRICS_HOST", show_envvar=True,
                     help="Address the metrics endpoint binds (0.0.0.0 inside a container)."),
        click.option("--log-level", type=click.Choice(LEVELS, case_sensitive=False),
                     default="info", show_default=True, envvar="SLITHER_LOG_LEVEL",
                     show_envvar=True, help="Lowest level of log lines to print."),
        click.option("--log-format", type=click.Choice(FORMATS), default="text",
                     show_default=True, envvar="SLITHER_LOG_FORMAT", show_envvar=True,
                     help="json: one JSON object per line (for log shippers); text: readable."),
    ]
    for option in reversed(options):
        command = option(command)
    return command
