"""Inline: compute in the consuming thread. For tests, debugging and cheap functions."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from slither_stream.context import Context
from slither_stream.dispatch.compute import (
    ComputeFunction,
    call_checked,
    name_of,
    resolve,
    to_items,
)
from slither_stream.item import Item

if TYPE_CHECKING:
    from slither_stream.dispatch.options import DispatchOptions


class Inline:
    """Calls the function directly, one batch at a time, in the caller's thread.

    There is no concurrency and no timeout (nothing could interrupt the call); use
    Threads or Processes when either matters.
    """

    name = "inline"
    in_caller_thread = True

    def __init__(self, function: Callable[[list[Any]], Any] | str) -> None:
        self.function_name = name_of(function)
        self._function: ComputeFunction = (
            resolve(function) if isinstance(function, str) else function)

    def execute_batch(self, batch: list[Item], ctx: Context,
                      opts: DispatchOptions) -> list[Item]:
        payloads = [item.payload for item in batch]
        return to_items(batch, call_checked(self._function, self.function_name, payloads))

    def __repr__(self) -> str:
        return f"Inline({self.function_name})"
