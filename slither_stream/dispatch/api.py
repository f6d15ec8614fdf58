"""The public calls: ``run``, ``stream`` and ``call_batch``.

Options are validated when the call is made (even for the lazy ``stream``), so a
typo fails at once rather than on first iteration.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from slither_stream.context import Context
from slither_stream.dispatch import batch as batch_runner
from slither_stream.dispatch.options import build_options
from slither_stream.dispatch.runner import halt_error, iterate
from slither_stream.errors import DispatchError
from slither_stream.item import Item


def stream(items: Iterable[Any], **options: Any) -> Iterator[Item]:
    """Lazily dispatch ``items``; results come out as the iterator is consumed.

    The input is read only when an in-flight slot is free (real backpressure). Under
    ``halt`` a failed batch raises :class:`DispatchError` from the iterator; its
    ``partial`` holds results that had finished but were not yet yielded.
    """
    return iterate(items, build_options(options))


def run(items: Iterable[Any], **options: Any) -> list[Item]:
    """Dispatch ``items`` and return every result item.

    Raw payloads are wrapped in :class:`Item`; results are items whose payload is the
    compute result (id, key, meta kept). Under ``halt`` a failure raises
    :class:`DispatchError` whose ``partial`` holds every result finished before it.
    """
    opts = build_options(options)
    results: list[Item] = []
    try:
        for result in iterate(items, opts):
            results.append(result)
    except DispatchError as error:
        error.partial = results + error.partial
        raise
    return results


def call_batch(batch: Sequence[Any], **options: Any) -> list[Item]:
    """Send one pre-assembled batch to the executor (no strategy), under the policy."""
    opts = build_options(options)
    items = [Item.wrap(value) for value in batch]
    if not items:
        return []
    ctx = opts.context if opts.context is not None else Context()
    outcome = batch_runner.execute(1, items, ctx, opts, threading.Event())
    if outcome.error is not None:
        raise halt_error(outcome, opts, [])
    batch_runner.report_skips(outcome, opts)
    return outcome.results
