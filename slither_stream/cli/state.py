"""``slither state get``: read a key's keyed state from the worker that owns it.

See :mod:`slither_stream.pipe.query.client` for how the owner is found. Exit codes
as for every command (see ``_common``), read for this one as: 0 the value was
printed; 1 the key has no value; 2 bad arguments, or an unknown stage or store; 3
no owner could answer (none owns the partition, unreachable, no endpoint, still
restoring after ``--timeout``) or the log failed.
"""

from __future__ import annotations

from pathlib import Path

import click

from slither_stream.cli._common import (
    EXIT_DATA,
    Command,
    Group,
    failure,
    json_line,
    log_option,
    reports_errors,
)
from slither_stream.cli._topology import load_definition
from slither_stream.errors import KeyNotFoundError
from slither_stream.store.app import DEFAULT_DATA_DIR


@click.group("state", cls=Group)
def state_command() -> None:
    """Query the keyed state of a pipe's stages (interactive queries)."""


@state_command.command("get", cls=Command)
@click.argument("topology")
@click.argument("stage")
@click.argument("store")
@click.argument("key")
@click.option("--namespace", default=None, help="Topic namespace (default: the pipe name).")
@log_option
@click.option("--endpoint", default=None, metavar="URL",
              help="Ask this worker (its supervisor's --metrics-port, e.g. "
                   "http://127.0.0.1:9464) instead of looking the owner up in the log; "
                   "an answer naming another owner is followed.")
@click.option("--state-dir", type=click.Path(file_okay=False, path_type=Path),
              default=DEFAULT_DATA_DIR, show_default=True,
              help="Local state directory, read when no worker runs on the embedded log.")
@click.option("--timeout", type=click.FloatRange(min=0), default=10.0, show_default=True,
              help="Seconds to keep asking while the owner restores or the group "
                   "rebalances.")
@click.option("--full", is_flag=True,
              help="Print the whole answer (stage, store, key, partition, value, member) "
                   "instead of the value alone.")
@reports_errors
def state_get_command(topology: str, stage: str, store: str, key: str, *,
                      namespace: str | None, log_url: str, endpoint: str | None,
                      state_dir: Path, timeout: float, full: bool) -> None:
    """Print the value of KEY in state store STORE of STAGE as one JSON line.

    The owner of KEY is the member of STAGE's consumer group assigned KEY's input
    partition; workers advertise their endpoint (--metrics-port, --advertise-url)
    in their client id, so the group's member list says whom to ask. The value is
    the owner's as of its last commit.

    On the embedded log a running worker holds the log: pass --endpoint. With no
    worker running, the local state directory (--state-dir) is read directly,
    read-only: the state as of the last run here.

    Exit codes: 0 printed; 1 the key has no value; 2 bad arguments or an unknown
    stage or store; 3 no owner could answer (none, unreachable, still restoring
    after --timeout) or the log failed.
    """
    from slither_stream.pipe.query.client import get_state

    definition = load_definition(topology, namespace)
    try:
        answer = get_state(definition, stage, store, key.encode(), log_url=log_url,
                           endpoint=endpoint, state_dir=state_dir, timeout=timeout)
    except KeyNotFoundError as error:
        raise failure(f"no value: {error}", EXIT_DATA) from error
    click.echo(json_line(answer.body if full else answer.value), nl=False)
