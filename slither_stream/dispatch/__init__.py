"""Dispatch: bounded, batched fan-out of items to Python compute pools.

Public API (everything else in this package is internal)::

    from slither_stream import dispatch

    with dispatch.Processes("my_model:predict_batch", processes=4) as pool:
        results = dispatch.run(items, executor=pool, batch_size=32, max_in_flight=4,
                               on_error=dispatch.retry(3, backoff=0.5, then="skip"))

``run`` returns result items; ``stream`` yields them lazily with real backpressure;
``call_batch`` sends one pre-assembled batch. See :mod:`.options` for the options and
where their defaults come from, :mod:`.policies` for error handling.
"""

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
from slither_stream.dispatch.policies import (
    ErrorPolicy,
    Halt,
    Retry,
    Route,
    Skip,
    halt,
    retry,
    route,
    skip,
)
from slither_stream.dispatch.strategies import FixedBatch, KeyPartition, Strategy, WeightedBatch

__all__ = [
    "SKIP_EVENT",
    "BatchComputeError",
    "DispatchOptions",
    "ErrorPolicy",
    "Executor",
    "FixedBatch",
    "Halt",
    "Inline",
    "KeyPartition",
    "Processes",
    "Retry",
    "Route",
    "Skip",
    "Strategy",
    "Threads",
    "Topic",
    "WeightedBatch",
    "call_batch",
    "configure",
    "current_defaults",
    "halt",
    "reset_configuration",
    "retry",
    "route",
    "run",
    "run_compute_worker",
    "skip",
    "stream",
]
