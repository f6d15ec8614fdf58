"""The ``slither`` command: one click group, one module per command family."""

from __future__ import annotations

import click

from slither_stream import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="slither")
def cli() -> None:
    """slither-stream: stream processing for Python on Kafka-style logs."""


from slither_stream.cli.compute import compute_command  # noqa: E402
from slither_stream.cli.run import run_command  # noqa: E402
from slither_stream.cli.worker import worker_command  # noqa: E402

cli.add_command(compute_command)
cli.add_command(run_command)
cli.add_command(worker_command)

from slither_stream.cli.consume import consume_command  # noqa: E402
from slither_stream.cli.produce import produce_command  # noqa: E402
from slither_stream.cli.topics import topics_command  # noqa: E402

cli.add_command(topics_command)
cli.add_command(produce_command)
cli.add_command(consume_command)

from slither_stream.cli.describe import describe_command  # noqa: E402
from slither_stream.cli.lag import lag_command  # noqa: E402

cli.add_command(lag_command)
cli.add_command(describe_command)

from slither_stream.cli.stores import reload_command, replay_command  # noqa: E402

cli.add_command(replay_command)
cli.add_command(reload_command)

from slither_stream.cli.state import state_command  # noqa: E402

cli.add_command(state_command)
from slither_stream.cli.schemas import schemas_command  # noqa: E402

cli.add_command(schemas_command)


def main() -> None:
    """Console-script entry point."""
    cli()
