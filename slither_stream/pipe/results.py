"""What a stage did with one item: the seed's return conventions as plain values.

A stage turns each input item into exactly one :data:`Outcome`:

* :class:`Emit` — zero or more items continue (to the next stage, or to the named
  ``output`` when routed);
* :class:`Skip` — the item is dropped on purpose;
* :class:`Failure` — the item failed; the stage's error policy decides what happens.

:func:`interpret` applies the local-stage conventions to a handler's return value:
a bare value becomes the new payload; ``("ok", v)``, ``("skip", reason)``,
``("error", reason)`` and ``("route", output, v)`` are tagged results; under
``cardinality="many"`` a list becomes one item per element. Ids, key and meta of the
input item are kept (children of a 1:many expansion get fresh ids and record their
parent in ``meta["parent_id"]``).
"""

from __future__ import annotations

import traceback
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from slither_stream.item import Item


@dataclass(slots=True)
class Emit:
    """Items that continue; ``output`` set means "publish to that pipe output".

    Treat it as immutable. Not ``frozen``: stages build one per record, and a frozen
    dataclass pays ``object.__setattr__`` per field (about 1 µs here)."""

    items: tuple[Item, ...]
    output: str | None = None


@dataclass(frozen=True)
class Skip:
    """The item was dropped on purpose (``("skip", reason)``)."""

    reason: Any


@dataclass(frozen=True)
class Failure:
    """The item failed: a raised exception or an ``("error", reason)`` result."""

    error_type: str
    message: str
    detail: str = ""

    @classmethod
    def from_exception(cls, error: BaseException) -> Failure:
        detail = "".join(traceback.format_exception(error))
        return cls(type(error).__name__, str(error), detail)

    @classmethod
    def from_reason(cls, reason: Any) -> Failure:
        if isinstance(reason, BaseException):
            return cls.from_exception(reason)
        return cls("StageError", str(reason))


Outcome = Emit | Skip | Failure


RESULT_TYPES = (Emit, Skip, Failure)
"""The types of :data:`Outcome`, for ``isinstance``."""

NOT_PAYLOAD_TYPES = frozenset({Item, *RESULT_TYPES})
"""The per-item results that are not a new payload, for a per-record ``type(result)
in`` test (a set lookup; :func:`as_outcome` is the rule)."""


def as_outcome(result: Any, item: Item) -> Outcome:
    """What a stage's per-item function returned for ``item`` as an Outcome (see
    :meth:`~slither_stream.pipe.engine.processors.base.StageProcessor.one_at_a_time`): an Item
    is the one item emitted to the stage's default target, and any value that is
    neither an Item nor an Outcome is ``item``'s new payload, emitted there."""
    if isinstance(result, RESULT_TYPES):
        return result
    if isinstance(result, Item):
        return Emit((result,))
    return Emit((item.update_payload(result),))


_TAGS = ("ok", "skip", "error", "route")


def _tagged(value: Any) -> str | None:
    if isinstance(value, tuple) and value and isinstance(value[0], str) and value[0] in _TAGS:
        expected = 3 if value[0] == "route" else 2
        if len(value) == expected:
            return value[0]
    return None


def interpret(item: Item, value: Any, *, cardinality: str = "one") -> Outcome:
    """Turn one handler return value for ``item`` into an :data:`Outcome`."""
    tag = _tagged(value)
    output: str | None = None
    if tag == "skip":
        return Skip(value[1])
    if tag == "error":
        return Failure.from_reason(value[1])
    if tag == "ok":
        value = value[1]
    elif tag == "route":
        output = value[1]
        value = value[2]
        if not isinstance(output, str):
            return Failure("StageError", f"route target must be an output name, not {output!r}")
    if cardinality == "many":
        if isinstance(value, (str, bytes, dict)) or not isinstance(value, Sequence):
            return Failure(
                "StageError",
                f"a cardinality='many' stage must return a list, not {type(value).__name__}",
            )
        children = tuple(
            child if isinstance(child, Item) else Item.wrap(
                child, key=item.key, meta={**item.meta, "parent_id": item.id, "index": index})
            for index, child in enumerate(value)
        )
        return Emit(children, output)
    if isinstance(value, Item):
        return Emit((value,), output)
    return Emit((item.update_payload(value),), output)


def interpret_batch(items: Sequence[Item], value: Any, *, cardinality: str) -> list[Outcome] | None:
    """Interpret a batch handler's return value; None means "fall back to per item".

    Accepted shapes: a list with one result per input item (each interpreted like a
    per-item result); ``("ok", [items or payloads])`` with one entry per input item;
    ``("error", reason)`` failing the whole batch; ``"per_item"``.
    """
    if isinstance(value, str) and value == "per_item":
        return None
    tag = _tagged(value)
    if tag == "error":
        failure = Failure.from_reason(value[1])
        return [failure for _ in items]
    if tag == "ok":
        value = value[1]
    if isinstance(value, (str, bytes, dict)) or not isinstance(value, Sequence):
        failure = Failure("StageError", "a batch handler must return a list with one result "
                          f"per item, not {type(value).__name__}")
        return [failure for _ in items]
    if len(value) != len(items):
        failure = Failure(
            "StageError",
            f"batch handler returned {len(value)} results for {len(items)} items",
        )
        return [failure for _ in items]
    return [interpret(item, result, cardinality=cardinality)
            for item, result in zip(items, value, strict=True)]
