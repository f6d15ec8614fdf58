"""Commit strategies: how a stage's writes and input offsets become durable.

One strategy per delivery mode, chosen once when a stage starts; the stage loop
calls the strategy and never asks which mode it is in.
"""
