"""Batching strategies: how a stream of items becomes a stream of batches."""

from slither_stream.dispatch.strategies.base import Strategy
from slither_stream.dispatch.strategies.fixed import FixedBatch
from slither_stream.dispatch.strategies.key_partition import KeyPartition
from slither_stream.dispatch.strategies.weighted import WeightedBatch

__all__ = ["FixedBatch", "KeyPartition", "Strategy", "WeightedBatch"]
