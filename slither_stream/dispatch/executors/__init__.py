"""Executors: where batches are computed (see :mod:`.base` for the contract)."""

from slither_stream.dispatch.executors.base import Executor, executor_name
from slither_stream.dispatch.executors.inline import Inline
from slither_stream.dispatch.executors.processes import Processes
from slither_stream.dispatch.executors.threads import Threads
from slither_stream.dispatch.executors.topic import Topic, run_compute_worker

__all__ = ["Executor", "Inline", "Processes", "Threads", "Topic", "executor_name",
           "run_compute_worker"]
