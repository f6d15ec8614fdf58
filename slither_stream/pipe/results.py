"""What a stage handler returns, and what a stage did with one item.

A local stage's handler returns, for its item:

* a plain value — the item's new payload, sent to the next stage (or the pipe's
  ``default`` output after the last stage); the common case;
* :class:`Emit` — ``Emit(value, output="review")`` sends the new payload to a named
  output; ``Emit.many([a, b, c], output=None)`` sends several items on (1:many; the
  children get fresh ids and carry ``meta["parent_id"]`` and ``meta["index"]``);
* :class:`Skip` — ``Skip("why")`` drops the item on purpose;
* an :class:`~slither_stream.Item` — sent on as it is;
* or it raises: the stage's error policy decides (dead-letter, retry, skip, halt).

A batch handler returns one such result per item of its batch (a list), where an
exception instance fails its item alone (raising fails the whole batch), or
:data:`PER_ITEM` to have the stage's per-item ``handler`` process the batch.

With ``cardinality="many"`` a returned list is the same as ``Emit.many(list)``.

The tagged tuples of earlier releases (``("ok", v)``, ``("skip", reason)``,
``("error", reason)``, ``("route", output, v)``) still work and warn
(:class:`DeprecationWarning`); they go in the next release.

Internally every item ends in exactly one :data:`Outcome`: :class:`Emitted` (items
that continue, to the next stage or a named output), :class:`Skip` or
:class:`Failure`. Ids, key and meta of the input item are kept on a new payload.
"""

from __future__ import annotations

import traceback
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from slither_stream.errors import StateDataError
from slither_stream.item import Item


class Emit:
    """A handler's result: payloads to send on, optionally to a named output."""

    __slots__ = ("expands", "output", "values")

    def __init__(self, value: Any, *, output: str | None = None) -> None:
        self.values: tuple[Any, ...] = (value,)
        self.output = output
        self.expands = False
        """True for :meth:`many`: the values become new items (fresh ids)."""

    @classmethod
    def many(cls, values: Iterable[Any], *, output: str | None = None) -> Emit:
        """One new item per value (payloads, or Items sent as they are)."""
        emitted = cls(None, output=output)
        emitted.values = tuple(values)
        emitted.expands = True
        return emitted

    def __repr__(self) -> str:
        shown = (f"Emit.many({list(self.values)!r}" if self.expands
                 else f"Emit({self.values[0]!r}")
        return shown + (f", output={self.output!r})" if self.output is not None else ")")


@dataclass(slots=True)
class Emitted:
    """Items that continue; ``output`` set means "publish to that pipe output".

    Treat it as immutable. Not ``frozen``: stages build one per routed record, and a
    frozen dataclass pays ``object.__setattr__`` per field."""

    items: tuple[Item, ...]
    output: str | None = None


@dataclass(frozen=True)
class Skip:
    """The item is dropped on purpose; ``reason`` is for logs and tests."""

    reason: Any = None


@dataclass(frozen=True)
class Failure:
    """The item failed: the exception a handler or compute function raised."""

    error_type: str
    message: str
    detail: str = ""
    bad_data: bool = False
    """The record itself cannot be processed (:class:`~slither_stream.errors.StateDataError`):
    it is dead-lettered whatever the stage's policy."""

    @classmethod
    def from_exception(cls, error: BaseException) -> Failure:
        detail = "".join(traceback.format_exception(error))
        return cls(type(error).__name__, str(error), detail,
                   isinstance(error, StateDataError))

    @classmethod
    def from_reason(cls, reason: Any) -> Failure:
        if isinstance(reason, BaseException):
            return cls.from_exception(reason)
        return cls("StageError", str(reason))


Outcome = Emitted | Skip | Failure


RESULT_TYPES = (Emitted, Skip, Failure)
"""The types of :data:`Outcome`, for ``isinstance``."""

NOT_PAYLOAD_TYPES = frozenset({Item, *RESULT_TYPES})
"""The per-item results that are not a new payload, for a per-record ``type(result)
in`` test (a set lookup; :func:`as_outcome` is the rule)."""

HANDLER_RESULT_TYPES = (tuple, Item, Emit, Exception, *RESULT_TYPES)
"""Handler results that need :func:`interpret` (anything else is the new payload)."""


def as_outcome(result: Any, item: Item) -> Outcome:
    """What a stage's per-item function returned for ``item`` as an Outcome (see
    :meth:`~slither_stream.pipe.engine.processors.base.StageProcessor.one_at_a_time`):
    an Item is the one item emitted to the stage's default target, and any value
    that is neither an Item nor an Outcome is ``item``'s new payload, emitted there."""
    if isinstance(result, RESULT_TYPES):
        return result
    if isinstance(result, Item):
        return Emitted((result,))
    return Emitted((item.update_payload(result),))


def _children(item: Item, values: Sequence[Any], output: str | None) -> Emitted:
    return Emitted(tuple(
        child if isinstance(child, Item) else Item.wrap(
            child, key=item.key, meta={**item.meta, "parent_id": item.id, "index": index})
        for index, child in enumerate(values)), output)


def interpret(item: Item, value: Any, *, cardinality: str = "one") -> Outcome:
    """Turn one handler return value for ``item`` into an :data:`Outcome`."""
    if isinstance(value, Emit):
        if value.output is not None and not isinstance(value.output, str):
            return Failure("StageError",
                           f"Emit output must be an output name, not {value.output!r}")
        if value.expands:
            return _children(item, value.values, value.output)
        single = value.values[0]
        emitted = single if isinstance(single, Item) else item.update_payload(single)
        return Emitted((emitted,), value.output)
    if isinstance(value, RESULT_TYPES):
        return value
    if isinstance(value, Exception):
        return Failure.from_exception(value)
    tag = _tagged(value)
    if tag is not None:
        return _interpret_tagged(item, value, tag, cardinality)
    if cardinality == "many":
        return _many(item, value, None)
    if isinstance(value, Item):
        return Emitted((value,))
    return Emitted((item.update_payload(value),))


def _many(item: Item, value: Any, output: str | None) -> Outcome:
    if isinstance(value, str | bytes | dict) or not isinstance(value, Sequence):
        return Failure("StageError", "a cardinality='many' stage must return a list, "
                       f"not {type(value).__name__}")
    return _children(item, value, output)


# -- the deprecated tagged tuples ------------------------------------------------------

_TAGS = ("ok", "skip", "error", "route")
_DEPRECATED = ("tagged tuple results ('ok', v) / ('skip', r) / ('error', r) / "
               "('route', output, v) are deprecated: return a value, Skip(r), "
               "Emit(v, output=...), or raise")


def _tagged(value: Any) -> str | None:
    if isinstance(value, tuple) and value and isinstance(value[0], str) and value[0] in _TAGS:
        expected = 3 if value[0] == "route" else 2
        if len(value) == expected:
            return value[0]
    return None


def _interpret_tagged(item: Item, value: tuple[Any, ...], tag: str,
                      cardinality: str) -> Outcome:
    warnings.warn(_DEPRECATED, DeprecationWarning, stacklevel=4)
    if tag == "skip":
        return Skip(value[1])
    if tag == "error":
        return Failure.from_reason(value[1])
    output: str | None = None
    payload = value[1]
    if tag == "route":
        output, payload = value[1], value[2]
        if not isinstance(output, str):
            return Failure("StageError", f"route target must be an output name, not {output!r}")
    if cardinality == "many":
        return _many(item, payload, output)
    if isinstance(payload, Item):
        return Emitted((payload,), output)
    return Emitted((item.update_payload(payload),), output)


class PerItem:
    """The type of :data:`PER_ITEM`."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "PER_ITEM"


PER_ITEM = PerItem()
"""What a batch handler returns to have its batch processed by the stage's per-item
``handler`` instead (each item under the stage's error policy)."""


def interpret_batch(items: Sequence[Item], value: Any, *,
                    cardinality: str) -> list[Outcome] | None:
    """Interpret a batch handler's return value: a list with one result per input
    item, each interpreted as a per-item result, or :data:`PER_ITEM` (None: process
    the items one by one). A batch handler that raises fails every item of the batch
    (its caller does that)."""
    if value is PER_ITEM:
        return None
    if isinstance(value, str) and value == "per_item":
        warnings.warn("a batch handler's 'per_item' is now results.PER_ITEM",
                      DeprecationWarning, stacklevel=3)
        return None
    if isinstance(value, tuple) and _tagged(value) in ("ok", "error"):
        warnings.warn(_DEPRECATED, DeprecationWarning, stacklevel=3)
        if value[0] == "error":
            failure = Failure.from_reason(value[1])
            return [failure for _ in items]
        value = value[1]
    if isinstance(value, str | bytes | dict) or not isinstance(value, Sequence):
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
