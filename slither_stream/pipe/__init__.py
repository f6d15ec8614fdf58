"""Pipe: a declared chain of stages, each a consumer group on its own topic.

Public API: :class:`Pipe` (declare), :class:`PipeDefinition` (the compiled,
inspectable graph), the typed stage specs (:class:`LocalSpec`, :class:`ComputeSpec`,
:class:`RouterSpec`, :class:`RouteSpec`), the handler results (:class:`Emit`,
:class:`Skip`, :data:`PER_ITEM`), the error policies (:mod:`slither_stream.policies`,
re-exported), :class:`Runner` (``Runner.run`` / ``Runner.stream``), :class:`Worker` /
:class:`Supervisor` (long-lived consumer-group workers), :func:`load_topology`, and
:mod:`state` (state writes that commit with a stage's outputs), keyed state
(:class:`StateSpec`, :class:`KeyedState`, ``ctx.state``). Everything else in
this package (``engine``, ``deploy``) is internal.
"""

from __future__ import annotations

from slither_stream.pipe import state
from slither_stream.pipe.declaration import Pipe
from slither_stream.pipe.definition import PipeDefinition, StagePlan
from slither_stream.pipe.deploy.runner import PipeRunError, Runner
from slither_stream.pipe.deploy.supervisor import Supervisor
from slither_stream.pipe.deploy.worker import Worker
from slither_stream.pipe.engine.keyed_state import KeyedState
from slither_stream.pipe.engine.loop import StageHaltedError
from slither_stream.pipe.loading import load_topology
from slither_stream.pipe.results import PER_ITEM, Emit, Failure, Skip
from slither_stream.pipe.specs import (
    ComputeSpec,
    LocalSpec,
    PipeSettings,
    RouterSpec,
    RouteSpec,
    StageSpec,
    StateSpec,
)
from slither_stream.policies import (
    DeadLetter,
    ErrorPolicy,
    Halt,
    Retry,
    dead_letter,
    halt,
    retry,
    skip,
)

__all__ = [
    "PER_ITEM",
    "ComputeSpec",
    "DeadLetter",
    "Emit",
    "ErrorPolicy",
    "Failure",
    "Halt",
    "KeyedState",
    "LocalSpec",
    "Pipe",
    "PipeDefinition",
    "PipeRunError",
    "PipeSettings",
    "Retry",
    "RouteSpec",
    "RouterSpec",
    "Runner",
    "Skip",
    "StageHaltedError",
    "StagePlan",
    "StageSpec",
    "StateSpec",
    "Supervisor",
    "Worker",
    "dead_letter",
    "halt",
    "load_topology",
    "retry",
    "skip",
    "state",
]
