"""The Processes executor: a supervised pool of compute worker processes."""

from slither_stream.dispatch.executors.processes.pool import Processes

__all__ = ["Processes"]
