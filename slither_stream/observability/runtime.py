"""One call that gives a worker its metrics, health endpoint and tracing.

``slither run`` / ``slither worker`` (and any embedding application) do::

    obs = start_observability(metrics_port=9464)
    obs.readiness.wait_for("store:features")
    ...                                     # restore stores
    obs.readiness.done("store:features")
    obs.readiness.set_started()
    ...                                     # run until asked to stop
    obs.stop()

With ``metrics_port=None`` the metrics are still gathered (and readable through
``obs.metrics.exposition()``) but nothing listens on a socket.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import TracebackType

from slither_stream.observability.federation import Members
from slither_stream.observability.health import Readiness
from slither_stream.observability.metrics import MetricsRegistry
from slither_stream.observability.server import DEFAULT_HOST, MetricsServer
from slither_stream.observability.tracing import BatchTracing


@dataclass
class Observability:
    """The observability parts of one process; :meth:`stop` undoes everything."""

    metrics: MetricsRegistry
    readiness: Readiness
    tracing: BatchTracing
    server: MetricsServer | None = None

    def stop(self) -> None:
        """Stop the HTTP server and detach metrics and tracing from telemetry."""
        if self.server is not None:
            self.server.stop()
        self.tracing.uninstall()
        self.metrics.uninstall()
        self.metrics.lag.unwatch_all()  # the watched logs may be closed after this

    def __enter__(self) -> Observability:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


def start_observability(metrics_port: int | None = None, *, metrics_host: str = DEFAULT_HOST,
                        tracing: bool = True, readiness: Readiness | None = None,
                        members: Members | None = None) -> Observability:
    """Install metrics (and tracing), and serve them on ``metrics_port`` if given.

    ``metrics_port=0`` serves on a free port (see ``obs.server.port``). ``members``
    makes the endpoint federate worker processes (a supervisor passes its table).
    """
    metrics = MetricsRegistry().install()
    ready = readiness if readiness is not None else Readiness()
    tracer = BatchTracing()
    obs = Observability(metrics=metrics, readiness=ready, tracing=tracer)
    metrics.track_readiness(ready.is_ready)
    try:
        if tracing:
            tracer.install()
        if metrics_port is not None:
            obs.server = MetricsServer(metrics, ready, port=metrics_port,
                                       host=metrics_host, members=members).start()
    except BaseException:
        obs.stop()
        raise
    return obs
