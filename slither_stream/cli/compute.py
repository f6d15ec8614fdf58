"""``slither compute --function module:function``: one member of a compute worker group.

Consumes batch requests from ``--request-topic``, runs the function on each, writes
the replies to the reply topic named by each request (or ``--reply-topic``) and
commits. Start as many as you like (Kafka: any number of processes or hosts); the
dispatching side uses ``dispatch.Topic`` with the same topics. SIGTERM or Ctrl-C
stops after the batch in hand, leaving the group cleanly.
"""

from __future__ import annotations

import os
import sys
import threading

import click

from slither_stream.cli._common import kafka_config_option
from slither_stream.errors import SlitherError
from slither_stream.log import default_log_url
from slither_stream.log._secrets import redact_url
from slither_stream.stop_signals import StopSignals


@click.command("compute")
@click.option("--function", "function", required=True,
              help="The compute function, as module:function.")
@click.option("--log", "log_url", default=None,
              help="Log URL (default: $SLITHER_LOG or embedded://.slither).")
@click.option("--request-topic", default="slither-compute-requests", show_default=True)
@click.option("--reply-topic", default=None,
              help="Reply topic for requests that do not name one.")
@click.option("--group", default="slither-compute", show_default=True,
              help="Consumer group of the workers.")
@click.option("--serializer", type=click.Choice(["pickle", "json"]), default="pickle",
              show_default=True, help="Codec for requests without a codec header.")
@click.option("--session-timeout", type=float, default=10.0, show_default=True,
              help="Seconds before the group hands a dead worker's batches to another "
                   "member (Kafka).")
@click.option("--max-batches", type=int, default=None,
              help="Exit after serving this many batches.")
@kafka_config_option
def compute_command(*, function: str, log_url: str | None, request_topic: str,
                    reply_topic: str | None, group: str, serializer: str,
                    session_timeout: float, max_batches: int | None) -> None:
    """Serve compute batches for dispatch.Topic executors."""
    from slither_stream.dispatch.executors.topic import run_compute_worker

    stop = threading.Event()
    url = log_url or default_log_url()

    def ready() -> None:
        click.echo(f"slither compute: pid {os.getpid()} serving {function} from "
                   f"{request_topic} (group {group}) on {redact_url(url)}", err=True)

    try:
        with StopSignals(lambda _signum: stop.set()):
            served = run_compute_worker(url, function, request_topic, reply_topic, group,
                                        stop=stop, max_batches=max_batches,
                                        serializer=serializer,
                                        session_timeout=session_timeout, on_ready=ready)
    except SlitherError as error:
        click.echo(f"error: {error}", err=True)
        sys.exit(2)
    click.echo(f"slither compute: served {served} batch(es)", err=True)
