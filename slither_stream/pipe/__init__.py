"""Pipe: a declared chain of stages, each a consumer group on its own topic.

Public API: :class:`Pipe` (declare), :class:`PipeDefinition` (the compiled,
inspectable graph), :class:`ErrorPolicy`, the result types, :class:`Runner`
(``Runner.run`` / ``Runner.stream``), :class:`Worker` / :class:`Supervisor`
(long-lived consumer-group workers), :func:`load_topology`, and :mod:`state`
(store writes that commit with a stage's transaction). Everything else in this
package is internal.
"""

from __future__ import annotations

from slither_stream.pipe import state
from slither_stream.pipe.declaration import Pipe
from slither_stream.pipe.definition import PipeDefinition, StagePlan
from slither_stream.pipe.deploy.runner import PipeRunError, Runner
from slither_stream.pipe.deploy.supervisor import Supervisor
from slither_stream.pipe.deploy.worker import Worker
from slither_stream.pipe.engine.loop import StageHaltedError
from slither_stream.pipe.loading import load_topology
from slither_stream.pipe.results import Emit, Failure, Skip
from slither_stream.pipe.specs import ErrorPolicy, RouteSpec

__all__ = [
    "Emit",
    "ErrorPolicy",
    "Failure",
    "Pipe",
    "PipeDefinition",
    "PipeRunError",
    "RouteSpec",
    "Runner",
    "Skip",
    "StageHaltedError",
    "StagePlan",
    "Supervisor",
    "Worker",
    "load_topology",
    "state",
]
