"""Loading a topology for the operator commands (lag, describe, replay, reload).

A topology file is user code: importing it may fail in any way (a missing module,
a syntax error, a bad declaration). Those are the caller's mistakes, so they become
one-line usage errors naming the file, not "internal error" reports.
"""

from __future__ import annotations

import os

import click

from slither_stream.cli._common import DEBUG_ENV, EXIT_USAGE, failure
from slither_stream.errors import ConfigError
from slither_stream.pipe.definition import PipeDefinition


def load_definition(topology: str, namespace: str | None = None) -> PipeDefinition:
    """The compiled pipe of ``topology`` under ``namespace`` (default: the pipe name)."""
    from slither_stream.pipe.loading import load_topology

    try:
        definition: PipeDefinition = load_topology(topology).compile()
    except ConfigError:
        raise
    except click.ClickException:
        raise
    except Exception as error:
        if os.environ.get(DEBUG_ENV):
            raise
        raise failure(f"cannot load topology {topology!r}: {type(error).__name__}: {error}",
                      EXIT_USAGE) from error
    if namespace:
        definition = definition.with_namespace(namespace)
    return definition


NAMESPACE_HELP = "Topic namespace the workers use (default: the pipe name)."
