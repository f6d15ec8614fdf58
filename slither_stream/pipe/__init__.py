"""Pipe: a declared chain of stages, each a consumer group on its own topic.

Public API: :class:`Pipe` (declare), :class:`PipeDefinition` (the compiled,
inspectable graph), :class:`ErrorPolicy`, the result types, and ``Runner``.
Everything else in this package is internal.
"""

from __future__ import annotations

from slither_stream.pipe.declaration import Pipe
from slither_stream.pipe.definition import PipeDefinition, StagePlan
from slither_stream.pipe.results import Emit, Failure, Skip
from slither_stream.pipe.specs import ErrorPolicy, RouteSpec

__all__ = [
    "Emit",
    "ErrorPolicy",
    "Failure",
    "Pipe",
    "PipeDefinition",
    "RouteSpec",
    "Skip",
    "StagePlan",
]
