"""Dispatch: bounded, batched fan-out of items to Python compute pools.

Public API (everything else in this package is internal)::

    from slither_stream import dispatch

    with dispatch.Processes("my_model:predict_batch", processes=4) as pool:
        results = dispatch.run(items, executor=pool, batch_size=32, max_in_flight=4,
                               on_error=dispatch.retry(3, backoff=0.5, then="skip"))

``run`` returns result items; ``stream`` yields them lazily with real backpressure;
``call_batch`` sends one pre-assembled batch. See :mod:`.options` for the options and
where their defaults come from; error policies are the project's one vocabulary,
:mod:`slither_stream.policies` (``halt``, ``skip``, ``retry``, ``fallback``), re-exported
here.
"""

import warnings
from typing import Any

from slither_stream.dispatch.api import call_batch, run, stream
from slither_stream.dispatch.batch import SKIP_EVENT
from slither_stream.dispatch.compute import BatchComputeError
from slither_stream.dispatch.executors import (
    Executor,
    Inline,
    Processes,
    Threads,
    Topic,
    run_compute_worker,
)
from slither_stream.dispatch.options import (
    DispatchOptions,
    configure,
    current_defaults,
    reset_configuration,
)
from slither_stream.dispatch.strategies import FixedBatch, KeyPartition, Strategy, WeightedBatch
from slither_stream.policies import (
    ErrorPolicy,
    Fallback,
    Halt,
    Retry,
    Skip,
    fallback,
    halt,
    retry,
    route,
    skip,
)

__all__ = [
    "SKIP_EVENT",
    "BatchComputeError",
    "DispatchOptions",
    "ErrorPolicy",
    "Executor",
    "Fallback",
    "FixedBatch",
    "Halt",
    "Inline",
    "KeyPartition",
    "Processes",
    "Retry",
    "Skip",
    "Strategy",
    "Threads",
    "Topic",
    "WeightedBatch",
    "call_batch",
    "configure",
    "current_defaults",
    "fallback",
    "halt",
    "reset_configuration",
    "retry",
    "route",
    "run",
    "run_compute_worker",
    "skip",
    "stream",
]


def __getattr__(name: str) -> Any:
    """``dispatch.Route``: the old name of :class:`Fallback`, kept for one release."""
    if name == "Route":
        warnings.warn("dispatch.Route is now dispatch.Fallback", DeprecationWarning,
                      stacklevel=2)
        return Fallback
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
