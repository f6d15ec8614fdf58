"""Stage runtimes: the per-kind logic that turns a batch of items into outcomes.

They know nothing about the log; :mod:`slither_stream.pipe.engine.loop` feeds them
decoded items and applies the outcomes (produce, route, dead-letter, commit).
"""

from __future__ import annotations

from slither_stream.pipe.definition import StagePlan
from slither_stream.pipe.engine.processors.base import StageProcessor
from slither_stream.pipe.engine.processors.compute import ComputeProcessor
from slither_stream.pipe.engine.processors.local import LocalProcessor
from slither_stream.pipe.engine.processors.router import RouterProcessor
from slither_stream.pipe.specs import ComputeSpec, LocalSpec, RouterSpec

__all__ = ["ComputeProcessor", "LocalProcessor", "RouterProcessor", "StageProcessor",
           "processor_for"]


def processor_for(plan: StagePlan) -> StageProcessor:
    """The processor for ``plan``'s kind."""
    spec = plan.spec
    if isinstance(spec, LocalSpec):
        return LocalProcessor(spec)
    if isinstance(spec, ComputeSpec):
        return ComputeProcessor(spec)
    assert isinstance(spec, RouterSpec)
    return RouterProcessor(spec)
