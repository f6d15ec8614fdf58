"""Keyed state against a dict oracle: random keys, partitions, deletes, batch sizes,
commit cadences and a restart at a random point, on the embedded log.

Each record names its partition explicitly, so one key may live in several
partitions: state is per task, so the oracle keys its dict by (partition, key).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from slither_stream.context import Context
from slither_stream.item import Item
from slither_stream.log import open_log
from slither_stream.pipe import Pipe
from slither_stream.pipe.deploy.runner import ensure_topics
from slither_stream.pipe.engine.envelope import Envelope
from slither_stream.pipe.engine.loop import StageLoop
from tests.e2e.helpers import read_topic

PARTITIONS = 3


def step(item: Item, ctx: Context) -> Any:
    assert ctx.state is not None
    if item.payload["op"] == "del":
        ctx.state.delete()
        return {"seq": item.payload["seq"], "value": None}
    value = ctx.state.get(0) + item.payload["add"]
    ctx.state.set(value)
    return {"seq": item.payload["seq"], "value": value}


records = st.lists(st.tuples(st.integers(0, PARTITIONS - 1), st.sampled_from("abcde"),
                             st.sampled_from(["add", "add", "add", "del"]),
                             st.integers(1, 9)), min_size=1, max_size=120)


@settings(max_examples=50, deadline=None)
@given(records=records, batch=st.integers(1, 40), commit_every=st.integers(1, 60),
       delivery=st.sampled_from(["at_least_once", "exactly_once"]),
       split=st.floats(0, 1))
def test_keyed_state_matches_a_dict(records: list[tuple[int, str, str, int]], batch: int,
                                    commit_every: int, delivery: str, split: float) -> None:
    oracle: dict[tuple[int, str], int] = {}
    expected: dict[int, int | None] = {}
    for seq, (partition, key, op, add) in enumerate(records):
        if op == "del":
            oracle.pop((partition, key), None)
            expected[seq] = None
        else:
            oracle[(partition, key)] = oracle.get((partition, key), 0) + add
            expected[seq] = oracle[(partition, key)]
    with tempfile.TemporaryDirectory() as tmp:
        log = open_log(f"embedded://{tmp}/log")
        try:
            pipe = Pipe("oracle", partitions=PARTITIONS, delivery=delivery,  # type: ignore[arg-type]
                        commit_records=commit_every)
            definition = pipe.local("step", step, state=["sums"], batch_size=batch).compile()
            ensure_topics(log, definition)
            cut = int(len(records) * split)
            for first, part in ((0, records[:cut]), (cut, records[cut:])):  # a restart
                _produce(log, definition, part, first)
                if part:
                    _drain(log, definition, Path(tmp) / "state", len(part))
            written = {}
            for record in read_topic(log, definition.output_topic("default")):
                payload = orjson.loads(record.value or b"")
                written[payload["seq"]] = payload["value"]
        finally:
            log.close()
    assert written == expected


def _produce(log: Any, definition: Any, part: list[tuple[int, str, str, int]],
             first: int) -> None:
    envelope = Envelope()
    with log.producer() as producer:
        for offset, (partition, key, op, add) in enumerate(part):
            item = Item.wrap({"seq": first + offset, "op": op, "add": add}, key=key)
            encoded, value, headers = envelope.encode(item)
            producer.produce(definition.input_topic, value, encoded, headers=headers,
                             partition=partition)
        producer.flush()


def _drain(log: Any, definition: Any, state_dir: Path, expected: int) -> None:
    def progress(stage: StageLoop) -> None:
        if stage.stats.idle and stage.stats.consumed >= expected:
            stage.stop()

    StageLoop(log, definition, "step", on_progress=progress, state_dir=state_dir,
              poll_timeout=0.02).run()
