"""``slither worker TOPOLOGY``: long-lived consumer-group workers for a pipe's stages.

Starts ``--processes`` worker processes under a supervisor; each runs the chosen
stages (``--stage``, repeatable; default all) as members of their consumer groups
on ``--log``. SIGTERM or Ctrl-C drains: every stage finishes the batch in hand,
commits and leaves its group. A worker process that dies is restarted, up to
``--max-restarts`` times within ``--max-seconds`` (then the supervisor gives up).
Exit codes: 0 stopped, 1 gave up (restarts, or every process halted: a stage
halted, or the broker refused a worker's credentials or an ACL), 2 bad arguments,
3 the broker refused the supervisor's own clients (the stores' owner), 4 a worker
process did not stop within ``--drain-timeout`` plus 5 s of SIGTERM and was killed
(its threads' stacks are in the log).

``--kafka-config FILE`` (or ``$SLITHER_KAFKA_CONFIG``) gives every Kafka client of
every worker process its security settings; each process reads the file when it
starts, so rotated credentials take effect when the workers restart.
"""

from __future__ import annotations

import logging
import os
import sys

import click

from slither_stream.cli._common import kafka_config, kafka_config_option
from slither_stream.errors import AuthenticationError, AuthorizationError, SlitherError
from slither_stream.log import default_log_url
from slither_stream.log._secrets import redact_url
from slither_stream.observability import configure_logging, observability_options
from slither_stream.stop_signals import StopSignals

EXIT_REFUSED = 3


@click.command("worker")
@click.argument("topology")
@click.option("--stage", "stages", multiple=True, help="Stage to run (repeatable; default all).")
@click.option("--processes", type=int, default=1, show_default=True,
              help="Worker processes (Kafka only for more than one).")
@click.option("--log", "log_url", default=None,
              help="Log URL (default: $SLITHER_LOG or embedded://.slither).")
@click.option("--namespace", default=None, help="Topic namespace (default: the pipe name).")
@click.option("--store-dir", default=None, metavar="DIR",
              help="Directory of this host's local state: the stages' keyed state and "
                   "the pipe's stores (default: .slither-stores in the working "
                   "directory). A restart with the same DIR restores only the "
                   "changelogs' tail.")
@click.option("--drain-timeout", type=click.FloatRange(min=0.1), default=30.0,
              show_default=True,
              help="Seconds a stopping worker may spend committing and leaving its "
                   "group before it exits anyway.")
@click.option("--max-restarts", type=click.IntRange(min=0), default=10, show_default=True,
              help="Worker process restarts allowed within --max-seconds; one more and "
                   "the supervisor gives up (exit 1).")
@click.option("--max-seconds", type=click.FloatRange(min=0, min_open=True), default=60.0,
              show_default=True, help="The window of --max-restarts, in seconds.")
@click.option("--advertise-url", default=None, envvar="SLITHER_ADVERTISE_URL",
              show_envvar=True, metavar="URL",
              help="Base URL other hosts and `slither state get` reach this worker's "
                   "--metrics-port at (default: http://<metrics-host>:<port>, this "
                   "machine's name when binding 0.0.0.0).")
@kafka_config_option
@observability_options
def worker_command(topology: str, *, stages: tuple[str, ...], processes: int,
                   log_url: str | None, namespace: str | None, store_dir: str | None,
                   drain_timeout: float, max_restarts: int, max_seconds: float,
                   advertise_url: str | None, metrics_port: int | None, metrics_host: str,
                   log_level: str, log_format: str) -> None:
    """Run the stages of the pipe in TOPOLOGY as consumer-group workers.

    With --metrics-port P, the supervisor serves /metrics (every process's metrics,
    labeled member), /healthz (200 once stores are restored and every worker
    process is ready), /livez and /state/STAGE/STORE/KEY (keyed state, asked of
    the worker process that owns the key; another host's key answers 421 naming
    its owner) on P; worker process i listens on 127.0.0.1:P+1+i. The workers
    advertise --advertise-url to their consumer groups.
    """
    from slither_stream.pipe.deploy.supervisor import Supervisor
    from slither_stream.pipe.deploy.worker_process import WorkerSpec
    from slither_stream.pipe.loading import load_topology
    from slither_stream.pipe.query.advertise import check_url

    if log_format == "json":
        configure_logging(log_level, "json", fields={"member": "supervisor"})
    else:
        logging.basicConfig(level=log_level.upper(),
                            format="%(asctime)s supervisor %(levelname)s %(message)s")
    chosen = click.get_current_context().get_parameter_source("log_level")
    child_level = None if chosen is click.core.ParameterSource.DEFAULT else log_level
    try:
        if advertise_url is not None:
            advertise_url = check_url(advertise_url)
        definition = load_topology(topology).compile()
        for stage in stages:
            definition.stage(stage)
        spec = WorkerSpec(topology=topology, log_url=log_url or default_log_url(),
                          stages=stages, namespace=namespace, cwd=os.getcwd(),
                          store_dir=store_dir,
                          metrics_port=metrics_port, metrics_host=metrics_host,
                          log_level=child_level, log_format=log_format,
                          drain_timeout=drain_timeout, advertise_url=advertise_url,
                          kafka_config=kafka_config())
        supervisor = Supervisor(spec, processes=processes, definition=definition,
                                max_restarts=max_restarts, max_seconds=max_seconds)
    except SlitherError as error:
        click.echo(f"error: {error}", err=True)
        sys.exit(2)

    click.echo(f"slither worker: pipe {definition.name}, stages "
               f"{', '.join(stages) or 'all'}, {processes} process(es), "
               f"log {redact_url(spec.log_url)}")
    try:
        with StopSignals(lambda _signum: supervisor.stop()):
            code = supervisor.run()
    except (AuthenticationError, AuthorizationError) as error:
        click.echo(f"error: {error}", err=True)  # the supervisor's own clients (stores)
        sys.exit(EXIT_REFUSED)
    sys.exit(code)
