"""What a stage writes for one polled batch, planned while the producer takes it.

Per input record the stage writes its outcome's items (to the next stage's topic or
to a pipe output), a dead letter, or nothing. :class:`BatchWrites` plans those
writes lazily: iterating it yields each write as ``(topic, value, key, headers)``
right after it is encoded, so the producer copies it into its queue at once, and
counts what it yields in a :class:`~slither_stream.pipe.engine.tally.Tally` on the
way. Iterate it exactly once. A write object per record, kept for the batch and
walked again to count, costs more than the write itself.

With a stage's write buffer (``staging``), each record's state writes are kept or
dropped as its outcome is decided here: kept for an emitted or skipped item,
dropped for a failed one (whatever its policy makes of it).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from typing import Any, NamedTuple, Protocol

from slither_stream.errors import SerializationError
from slither_stream.item import Item
from slither_stream.log.types import Outgoing, Record
from slither_stream.pipe.definition import PipeDefinition, StagePlan
from slither_stream.pipe.engine.dlq import dead_letter_headers
from slither_stream.pipe.engine.envelope import Envelope
from slither_stream.pipe.engine.tally import Tally
from slither_stream.pipe.engine.write_buffer import WriteBuffer
from slither_stream.pipe.results import (
    NOT_PAYLOAD_TYPES,
    Emitted,
    Failure,
    Outcome,
    Skip,
    as_outcome,
)
from slither_stream.policies import Halt, Retry
from slither_stream.policies import Skip as SkipPolicy

_log = logging.getLogger(__name__)


class PlannedBatch(Protocol):
    """A batch's writes as the stage's writers take them: iterated once, in input
    order; ``done`` and ``tally`` are complete once the iteration ended."""

    def __iter__(self) -> Iterator[Outgoing]: ...

    @property
    def records(self) -> Sequence[Record]:
        """Every record of the batch."""

    @property
    def done(self) -> Sequence[Record]:
        """The records whose writes were all yielded (a prefix of the batch)."""

    @property
    def tally(self) -> Tally:
        """What the yielded writes did, counted."""


class KeyFocus(Protocol):
    """What keyed state needs to know of the record being processed."""

    def focus(self, key: bytes | str | None, partition: int) -> None: ...


class EmitTarget(NamedTuple):
    """Where items emitted under one output name go."""

    topic: str
    envelope: Envelope
    output: str | None
    """The pipe output it counts as; None: it goes to the next stage."""


def emit_targets(definition: PipeDefinition, plan: StagePlan,
                 envelope: Envelope) -> dict[str | None, EmitTarget]:
    """Per output name a stage may emit to (None: the stage's next topic): the
    target, resolved once per stage rather than per record. ``envelope`` is the
    pipe's format between stages."""
    targets: dict[str | None, EmitTarget] = {
        name: EmitTarget(topic, definition.envelope(topic), name)
        for name, topic in definition.output_topics.items()}
    if plan.next_topic is not None:
        if plan.downstream_topic is not None:
            targets[None] = EmitTarget(plan.next_topic, envelope, None)
        elif "default" in targets:
            targets[None] = targets["default"]._replace(topic=plan.next_topic)
    return targets


class BatchWrites:
    """The writes of one batch (see the module docstring), made from ``decoded``
    (per record: its item, or why it could not be decoded) in one of two ways:

    * ``outcomes``: the stage processed the items as a whole; ``outcomes[i]`` is
      the outcome of ``records[i]`` (None where it could not be decoded) and
      ``attempts[i]`` how often it was tried;
    * ``process_one``: called per decoded item while the batch is iterated (again,
      up to the policy's attempts, waiting ``pause(seconds)`` between them, while it
      fails), so a record is processed, encoded and produced before the next is
      processed: no list of outcomes, and a record that halts the stage ends the
      processing too. ``staging`` (the stage's write buffer) stages each attempt's
      state writes and keeps or drops them with the record's outcome.

    Stops before the first record whose failure halts the stage (``halted``); with
    ``whole`` (a batch processed as a whole that wrote state), a halting failure
    anywhere in the batch stops it before its first record: nothing of it is
    written."""

    def __init__(self, plan: StagePlan, targets: Mapping[str | None, EmitTarget],
                 records: Sequence[Record], decoded: Sequence[Item | SerializationError], *,
                 outcomes: Sequence[Outcome | None] | None = None,
                 attempts: Sequence[int] | None = None,
                 process_one: Callable[[Item], Any] | None = None,
                 staging: WriteBuffer | None = None,
                 pause: Callable[[float], object] | None = None,
                 whole: bool = False, keyed: KeyFocus | None = None) -> None:
        if (outcomes is None) == (process_one is None):
            raise ValueError("give a batch's outcomes or process_one, not both or neither")
        self._plan = plan
        self._targets = targets
        self._records = records
        self._decoded = decoded
        self._outcomes = outcomes
        self._attempts = attempts
        self._process_one = process_one
        self._staging = staging
        self._pause = pause
        self._whole = whole
        self._keyed = keyed
        self._finished = 0
        self.tally = Tally()
        self.halted: tuple[Record, Failure] | None = None

    @property
    def records(self) -> Sequence[Record]:
        return self._records

    @property
    def done(self) -> Sequence[Record]:
        records = self._records
        return records if self._finished == len(records) else records[:self._finished]

    def __iter__(self) -> Iterator[Outgoing]:  # noqa: PLR0915 (one flat loop: per record)
        targets = self._targets
        records = self._records
        outcomes = self._outcomes
        process_one = self._process_one
        default = targets.get(None)
        if self._whole and self._halts_whole():
            self._count(0, 0, default, 0)
            return
        # The commonest result, a new payload for the item, is written by the
        # default target's envelope at once (the loop is kept short for it: it
        # runs once per record, so every step in it shows in a stage's CPU; the
        # records it writes are counted at the end, as the others less).
        staging = self._staging
        keyed = self._keyed
        partitions = (getattr(records, "partitions", None)
                      or [record.partition for record in records]) if keyed else ()
        write_default, default_topic = ((default.envelope.write, default.topic)
                                        if default is not None else (None, ""))
        outputs = self.tally.outputs
        others = finished = forwarded = 0
        position = -1
        result: Any  # an Outcome, an Item, a new payload (see as_outcome), or None
        for position, item in enumerate(self._decoded):
            if outcomes is not None:
                result = outcomes[position]
            elif type(item) is Item and process_one is not None:
                if staging is not None:
                    staging.stage()
                    if keyed is not None:
                        keyed.focus(item.key, partitions[position])
                result = process_one(item)
                kind = type(result)  # dict first: JSON's payload, no set lookup
                if write_default is not None and (kind is dict
                                                  or kind not in NOT_PAYLOAD_TYPES):
                    try:
                        outgoing = write_default(default_topic, item, result)
                    except SerializationError:
                        pass  # the general path says why
                    else:
                        if staging is not None:
                            staging.keep()  # the record's state writes stand
                        yield outgoing
                        continue
            else:
                result = None
            others += 1
            # The other common case, kept short too: one item to a declared
            # target. (An item that cannot be encoded, and every other case, takes
            # the general path, which says why.)
            if type(result) is Emitted and len(result.items) == 1:
                target = targets.get(result.output)
                if target is not None:
                    emitted = result.items[0]
                    try:
                        outgoing = target.envelope.write(target.topic, emitted, emitted.payload)
                    except SerializationError:
                        pass
                    else:
                        if staging is not None:
                            staging.keep()
                        yield outgoing
                        finished += 1
                        # Tally.wrote(target.output, 1), inlined: once per record.
                        if target.output is None:
                            forwarded += 1
                        else:
                            outputs[target.output] = outputs.get(target.output, 0) + 1
                        continue
            result, attempts = self._attempts_of(position, item, result)
            if not (yield from self._general(position, result, attempts)):
                break  # the stage halts on this record (in both terms below: not counted)
            finished += 1
        self._count(finished, forwarded, default, position + 1 - others)

    def _halts_whole(self) -> bool:
        """With ``whole``: whether an item of the batch halts it (then nothing of it
        is written, and ``halted`` names the first such record)."""
        outcomes = self._outcomes
        if outcomes is None or not isinstance(self._plan.policy.final, Halt):
            return False
        for position, outcome in enumerate(outcomes):
            if type(outcome) is Failure:
                self.halted = (self._records[position], outcome)
                return True
        return False

    def _attempts_of(self, position: int, item: Item | SerializationError,
                     result: Any) -> tuple[Any, int]:
        """The result for the record at ``position`` and the attempts it took:
        given with the outcomes, or made now while ``process_one`` fails."""
        if self._attempts is not None:
            return result, self._attempts[position]
        if type(result) is Failure and self._process_one is not None:
            assert type(item) is Item
            return self._retry(item, result)
        return result, 1

    def _retry(self, item: Item, failure: Failure) -> tuple[Any, int]:
        """Call ``process_one`` again while ``item`` fails, up to the policy's
        attempts, after the policy's backoff; the last result and the attempts
        made."""
        assert self._process_one is not None
        policy = self._plan.policy
        outcome: Any = failure
        attempts = 1
        while type(outcome) is Failure and not outcome.bad_data \
                and attempts < policy.attempts:
            if isinstance(policy, Retry) and self._pause is not None:
                self._pause(policy.delay(attempts))
            if self._staging is not None:
                self._staging.stage()  # a fresh attempt leaves no earlier writes
            outcome = self._process_one(item)
            attempts += 1
        return outcome, attempts

    def _count(self, finished: int, forwarded: int, default: EmitTarget | None,
               to_default: int) -> None:
        """Add what the loop counted to the tally: ``to_default`` records wrote
        their item to ``default``, ``finished`` others are done."""
        tally = self.tally
        if to_default:
            assert default is not None
            tally.wrote(default.output, to_default)
        self._finished = finished + to_default
        tally.consumed += self._finished
        tally.forwarded += forwarded

    def _general(self, position: int, result: Any,
                 attempts: int) -> Generator[Outgoing, None, bool]:
        """Every other case for the record at ``position`` (with the stage's
        ``result`` for it), tried ``attempts`` times, counted in the tally; False
        when the record halts the stage."""
        tally = self.tally
        records = self._records  # a Record is built only where one is needed
        decoded = self._decoded[position]
        if isinstance(decoded, SerializationError):
            yield self._dead_letter(records[position], "SerializationError", str(decoded), 1)
            return True
        outcome = as_outcome(result, decoded)
        staging = self._staging
        if isinstance(outcome, Emitted):
            routed = self._emit(outcome)
            if not isinstance(routed, Failure):
                target, writes = routed
                if staging is not None:
                    staging.keep()
                yield from writes
                if writes:
                    tally.wrote(target.output, len(writes))
                else:
                    tally.skipped += 1
                return True
            outcome = routed
        if isinstance(outcome, Skip):
            if staging is not None:
                staging.keep()
            tally.skipped += 1
            return True
        if staging is not None:
            staging.drop()  # a failed item leaves no state behind
        final = self._plan.policy.final
        if outcome.bad_data:
            yield self._dead_letter(records[position], outcome.error_type, outcome.message,
                                    attempts)
            return True
        if isinstance(final, Halt):
            self.halted = (records[position], outcome)
            return False
        if isinstance(final, SkipPolicy):
            record = records[position]
            _log.info("stage %s skipped %s[%d]@%d after %s: %s", self._plan.name,
                      record.topic, record.partition, record.offset, outcome.error_type,
                      outcome.message)
            tally.skipped += 1
            return True
        yield self._dead_letter(records[position], outcome.error_type, outcome.message, attempts)
        return True

    def _emit(self, outcome: Emitted) -> tuple[EmitTarget, list[Outgoing]] | Failure:
        """The writes of an emitted outcome, all encoded before any is yielded (an
        item that cannot be encoded fails the whole outcome)."""
        target = self._targets.get(outcome.output)
        if target is None:
            return Failure("StageError", f"stage {self._plan.name!r} routed to "
                           f"undeclared output {outcome.output!r}")
        writes: list[Outgoing] = []
        for item in outcome.items:
            try:
                writes.append(target.envelope.write(target.topic, item, item.payload))
            except SerializationError as error:
                return Failure("SerializationError", f"output topic {target.topic}: {error}")
        return target, writes

    def _dead_letter(self, record: Record, error_type: str, message: str,
                     attempts: int) -> Outgoing:
        self.tally.dead_lettered += 1
        headers = dead_letter_headers(record, stage=self._plan.name, error_type=error_type,
                                      message=message, attempts=attempts)
        return self._plan.dlq_topic, record.value, record.key, headers
