"""The ``slither`` command: one click group, one module per command family."""

from __future__ import annotations

import click

from slither_stream import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="slither")
def cli() -> None:
    """slither-stream: stream processing for Python on Kafka-style logs."""


def main() -> None:
    """Console-script entry point."""
    cli()
