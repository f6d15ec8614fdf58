"""One batch through the executor under the run's error policy.

:func:`execute` is what a runner thread does per batch: emit the telemetry span, call
the executor, and on failure apply the policy (retry with backoff, then halt, skip or
fallback). It never raises for a failed batch; it returns a :class:`BatchOutcome` that
the consuming thread acts on (raising for halt, reporting skips), so every
user-visible effect happens in the consumer's thread and order.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from slither_stream import telemetry
from slither_stream.context import Context
from slither_stream.dispatch.compute import BatchComputeError
from slither_stream.dispatch.executors.base import executor_name
from slither_stream.dispatch.options import DispatchOptions
from slither_stream.errors import DispatchError
from slither_stream.item import Item
from slither_stream.policies import DeadLetter, Fallback, FinalPolicy, Halt, Retry, Skip

SKIP_EVENT: telemetry.Event = (*telemetry.DISPATCH_BATCH, "skip")
"""Emitted once per skipped batch: measurement ``count``; metadata as the batch events
plus ``item_ids``, ``kind`` and ``reason``."""


@dataclass
class BatchOutcome:
    """What happened to one batch: results, skipped items, or the halting error."""

    ref: int
    size: int
    results: list[Item] = field(default_factory=list)
    skipped: list[Item] = field(default_factory=list)
    error: BaseException | None = None
    attempts: int = 1
    skip_cause: BaseException | None = None


def batch_metadata(ref: int, batch: list[Item], ctx: Context,
                   opts: DispatchOptions) -> dict[str, Any]:
    return {"batch_ref": ref, "batch_size": len(batch),
            "executor": executor_name(opts.executor), "pipe": ctx.pipe, "stage": ctx.stage}


def _attempt(ref: int, batch: list[Item], ctx: Context, opts: DispatchOptions,
             attempt: int) -> list[Item]:
    meta = batch_metadata(ref, batch, ctx, opts)
    meta["attempt"] = attempt
    with telemetry.span(telemetry.DISPATCH_BATCH, meta) as span_meta:
        results = opts.executor.execute_batch(batch, ctx, opts)
        if not isinstance(results, list) or not all(isinstance(r, Item) for r in results):
            name = executor_name(opts.executor)
            raise BatchComputeError(
                f"executor {name} returned {type(results).__name__}, expected a list of "
                "Item", function=name, reason="contract")
        span_meta["result_count"] = len(results)
        return results


def with_error_meta(batch: list[Item], ref: int, error: BaseException,
                    attempts: int) -> list[Item]:
    """The failed items, each with ``meta["error"]`` describing the failure."""
    info = {"kind": type(error).__name__, "reason": str(error), "batch_ref": ref,
            "attempts": attempts}
    reason = getattr(error, "reason", None)
    if isinstance(error, BatchComputeError) and reason:
        info["failure"] = reason
    return [item.put_meta(error=info) for item in batch]


def _compensate(policy: Fallback, ref: int, batch: list[Item], error: BaseException,
           attempts: int) -> BatchOutcome:
    failed = with_error_meta(batch, ref, error, attempts)
    try:
        returned = list(policy.handler(failed))
    except Exception as handler_error:
        wrapped = DispatchError(
            f"fallback handler failed for batch {ref} ({len(batch)} items) after {error!r}: "
            f"{type(handler_error).__name__}: {handler_error}", cause=handler_error)
        return BatchOutcome(ref, len(batch), error=wrapped, attempts=attempts)
    if all(isinstance(value, Item) for value in returned):
        results = returned
    elif len(returned) == len(failed):
        results = [item.update_payload(value) for item, value in zip(failed, returned,
                                                                     strict=True)]
    else:
        wrapped = DispatchError(
            f"fallback handler for batch {ref} returned {len(returned)} values for "
            f"{len(failed)} failed items; return Items or one payload per item")
        return BatchOutcome(ref, len(batch), error=wrapped, attempts=attempts)
    return BatchOutcome(ref, len(batch), results=results, attempts=attempts)


def _fallback(policy: FinalPolicy, error: BaseException, *, ref: int, batch: list[Item],
              attempts: int, ctx: Context, opts: DispatchOptions) -> BatchOutcome:
    if isinstance(policy, Halt):
        return BatchOutcome(ref, len(batch), error=error, attempts=attempts)
    if isinstance(policy, Skip):
        skipped = with_error_meta(batch, ref, error, attempts)
        if telemetry.has_handlers(SKIP_EVENT):
            meta = batch_metadata(ref, batch, ctx, opts)
            meta.update(item_ids=[item.id for item in batch], kind=type(error).__name__,
                        reason=str(error))
            telemetry.execute(SKIP_EVENT, {"count": float(len(batch))}, meta)
        return BatchOutcome(ref, len(batch), skipped=skipped, attempts=attempts,
                            skip_cause=error)
    if isinstance(policy, DeadLetter):  # refused by the options; a stage's policy
        return BatchOutcome(ref, len(batch), error=error, attempts=attempts)
    return _compensate(policy, ref, batch, error, attempts)


def execute(ref: int, batch: list[Item], ctx: Context, opts: DispatchOptions,
            stop: threading.Event) -> BatchOutcome:
    """Run ``batch`` under ``opts.on_error``; ``stop`` cuts retry backoff short."""
    policy = opts.on_error
    attempts = 0
    while True:
        attempts += 1
        try:
            results = _attempt(ref, batch, ctx, opts, attempts)
            return BatchOutcome(ref, len(batch), results=results, attempts=attempts)
        except Exception as error:
            if isinstance(policy, Retry):
                if attempts < policy.max_attempts and not stop.wait(policy.delay(attempts)):
                    continue
                return _fallback(policy.then, error, ref=ref, batch=batch, attempts=attempts,
                                 ctx=ctx, opts=opts)
            return _fallback(policy, error, ref=ref, batch=batch, attempts=attempts, ctx=ctx,
                             opts=opts)


def report_skips(outcome: BatchOutcome, opts: DispatchOptions) -> None:
    """Hand a skipped batch to the skip policy's ``on_skip`` (consumer thread)."""
    if not outcome.skipped or outcome.skip_cause is None:
        return
    policy = opts.on_error
    final = policy.then if isinstance(policy, Retry) else policy
    if isinstance(final, Skip) and final.on_skip is not None:
        final.on_skip(outcome.skipped, outcome.skip_cause)
