"""The Topic executor and the compute worker group it talks to."""

from slither_stream.dispatch.executors.topic.executor import Topic
from slither_stream.dispatch.executors.topic.worker import run_compute_worker

__all__ = ["Topic", "run_compute_worker"]
