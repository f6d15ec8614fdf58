"""The aggregate case's oracle and the exact check of a system's outputs.

The input is ``records`` records keyed over ``keys`` users (``work.aggregate_key``),
each with an integer ``amount``. A system keeps a running count and sum per key and
writes one output per input record, keyed by the key, value ``{"count": c, "sum": s}``.
A key's records sit in one input partition in the order produced, so the oracle
knows every output a key must get: its ``c``-th output carries ``c`` and the sum of
its first ``c`` amounts.

The check reads every output (in offset order) and counts:

* *wrong*: a value whose sum is not the oracle's for its count, or whose count is
  not one the key can have; *malformed*: not JSON with integer count and sum;
* *unknown keys*: outputs under a key the input never had;
* *duplicates*: a (key, count) written more than once (a replay without exactly-once);
* *missing*: a count a key never got. After a complete run every count 1..n of
  every key; after a run stopped early (``--budget``) only gaps below the highest
  count seen, since the rest was simply not processed yet;
* *last mismatch* (complete runs): a key whose last output is not its total.

The check passes when all of those are zero (then outputs = inputs for a complete
run). Memory: one prefix-sum list and one byte per input record.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

import orjson
from cases import work

EXAMPLES = 5
"""Problems quoted in the message (the counts cover all of them)."""


@dataclass(frozen=True)
class Oracle:
    """Per key, the running sum after each of its records, in input order."""

    records: int
    keys: int
    prefix: dict[bytes, list[int]]

    @classmethod
    def build(cls, records: int, keys: int) -> Oracle:
        """The oracle of the harness's aggregate input (``work.aggregate_*``)."""
        return cls.of((work.aggregate_key(n, keys), work.aggregate_amount(n))
                      for n in range(records))

    @classmethod
    def of(cls, inputs: Iterable[tuple[bytes, int]]) -> Oracle:
        """The oracle of ``(key, amount)`` pairs in input order (tests, other inputs)."""
        prefix: dict[bytes, list[int]] = {}
        records = 0
        for key, amount in inputs:
            sums = prefix.setdefault(key, [])
            sums.append((sums[-1] if sums else 0) + amount)
            records += 1
        return cls(records, len(prefix), prefix)


@dataclass
class AggregateCheck:
    inputs: int
    keys: int
    complete: bool
    """Whether every input should have its output (False: the run was stopped early)."""
    outputs: int = 0
    keys_seen: int = 0
    wrong: int = 0
    malformed: int = 0
    unknown_keys: int = 0
    duplicates: int = 0
    missing: int = 0
    last_mismatch: int = 0
    examples: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.wrong or self.malformed or self.unknown_keys or self.duplicates
                    or self.missing or self.last_mismatch)

    def _example(self, text: str) -> None:
        if len(self.examples) < EXAMPLES:
            self.examples.append(text)

    def message(self) -> str:
        """One line: what was checked and, if anything is off, what and where."""
        scope = (f"{self.outputs:,} outputs for {self.inputs:,} inputs over "
                 f"{self.keys_seen:,} of {self.keys:,} keys")
        if not self.complete:
            scope += " (run stopped early: the outputs that came were checked)"
        if self.ok:
            return f"aggregate outputs exact: {scope}"
        counts = [(self.wrong, "wrong"), (self.malformed, "malformed"),
                  (self.unknown_keys, "under unknown keys"),
                  (self.duplicates, "duplicates"), (self.missing, "missing"),
                  (self.last_mismatch, "keys whose last output is not their total")]
        problems = ", ".join(f"{count:,} {what}" for count, what in counts if count)
        return f"aggregate outputs NOT exact: {problems}; {scope}; e.g. " + "; ".join(
            self.examples)

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok, "message": self.message()}


def verify(outputs: Iterable[tuple[bytes | None, bytes | None]], oracle: Oracle, *,
           complete: bool) -> AggregateCheck:
    """Check ``(key, value)`` outputs, in the order read, against ``oracle``."""
    check = AggregateCheck(oracle.records, oracle.keys, complete)
    seen: dict[bytes, bytearray] = {}
    last: dict[bytes, tuple[int, int]] = {}
    prefix = oracle.prefix
    for key, raw in outputs:
        check.outputs += 1
        name = key.decode(errors="replace") if key is not None else None
        try:
            value = orjson.loads(raw) if raw is not None else None
            count, total = value["count"], value["sum"]  # type: ignore[index]
            if not isinstance(count, int) or not isinstance(total, int | float):
                raise TypeError(type(count).__name__)
        except (orjson.JSONDecodeError, TypeError, KeyError):
            check.malformed += 1
            check._example(f"key {name}: malformed value {raw[:80] if raw else raw!r}")
            continue
        sums = prefix.get(key) if key is not None else None
        if sums is None:
            check.unknown_keys += 1
            check._example(f"output under key {name!r}, which no input had")
            continue
        if not 1 <= count <= len(sums):
            check.wrong += 1
            check._example(f"key {name}: count {count}, but the key has {len(sums)} "
                           "records")
            continue
        marks = seen.get(key)
        if marks is None:
            marks = seen[key] = bytearray(len(sums))
        if marks[count - 1]:
            check.duplicates += 1
            check._example(f"key {name}: count {count} written again")
        marks[count - 1] = 1
        if total != sums[count - 1]:
            check.wrong += 1
            check._example(f"key {name} count {count}: sum {total}, expected "
                           f"{sums[count - 1]}")
        last[key] = (count, total)
    check.keys_seen = len(seen)
    for key, sums in prefix.items():
        marks = seen.get(key)
        name = key.decode(errors="replace")
        if complete:
            absent = len(sums) if marks is None else marks.count(0)
            if absent:
                check.missing += absent
                check._example(f"key {name}: {absent} of its {len(sums)} outputs missing")
            if last.get(key) != (len(sums), sums[-1]):
                check.last_mismatch += 1
                check._example(f"key {name}: last output {last.get(key)}, expected "
                               f"({len(sums)}, {sums[-1]})")
        elif marks is not None:
            highest = len(marks) - marks[::-1].index(1)  # the highest count seen
            gaps = marks[:highest].count(0)
            if gaps:
                check.missing += gaps
                check._example(f"key {name}: {gaps} outputs missing below count "
                               f"{highest}")
    return check
