"""Quix Streams 3.28.1 doing each case (runs in ``.cache/bench-venvs/quix``).

Settings are Quix's documented throughput knobs left at their defaults except where
stated in ``SETTINGS``: at-least-once, commit every 5 s, JSON (de)serializers,
RocksDB state with changelog topics. Router uses ``to_topic`` with a topic-choosing
callable (Quix's dynamic routing); compute calls the model once per record (Quix has
no batching operator); restore keeps one state entry per record (``state.set``);
aggregate keeps the key's running total in its State (``apply(stateful=True)`` with
``state.get`` / ``state.set``: Quix's state is scoped to the message key) and emits it
per record.

Lookup: ``join_asof`` of the stream with a dataframe of the table topic (Quix's
documented enrichment join: right-side records go to RocksDB state, left records look
up the latest row of their key). Both topics are co-partitioned (same keys, same
producer). Quix has no separate preload step: it reads both topics, aligned by
timestamp, and the table's rows are older than the stream's, so they are read first.
Latency: three dataframes in one application chained through the intermediate
topics, Quix's producer defaults (librdkafka ``linger.ms=5``: 0 measured worse on a
loaded 2-core broker).
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cases import args as cli
from cases import work
from quixstreams import Application, State

SETTINGS = ("at-least-once, commit_interval=5 s (default), json serde, RocksDB state + "
            "changelog, 1 process; compute per record; aggregate: apply(stateful=True), "
            "state.get/state.set per record; lookup: join_asof(how=left) with "
            "the table topic's dataframe; latency: 3 chained dataframes, default linger.ms=5")


def merge(left: dict[str, Any], right: Any) -> dict[str, Any]:
    """join_asof's merge: a new record (Quix forbids mutating either side)."""
    return work.join(dict(left), right)


def latency(app: Application, options: cli.SystemArgs) -> None:
    mid1, mid2 = (app.topic(name, value_serializer="json", value_deserializer="json")
                  for name in cli.mid_topics(options.group))
    outputs = [app.topic(name, value_serializer="json") for name in options.outputs]
    by_route = dict(zip(work.ROUTES, outputs, strict=True))

    def choose(value: Any, _key: Any, _timestamp: int, _headers: Any) -> Any:
        return by_route[work.route_of(value)]

    app.dataframe(app.topic(options.input, value_deserializer="json")) \
        .apply(work.enrich).to_topic(mid1)
    app.dataframe(mid1).apply(work.enrich).to_topic(mid2)
    app.dataframe(mid2).apply(work.enrich).to_topic(choose)


def main() -> None:
    options = cli.parse()
    app = Application(broker_address=options.bootstrap, consumer_group=options.group,
                      auto_offset_reset="earliest", state_dir=options.state_dir or "state",
                      loglevel=logging.WARNING, processing_guarantee="at-least-once")
    if options.case == "latency":
        latency(app, options)
        app.run()
        return
    source = app.topic(options.input, value_deserializer="json")
    outputs = [app.topic(name, value_serializer="json") for name in options.outputs]
    sdf = app.dataframe(source)
    if options.case == "router":
        by_route = dict(zip(work.ROUTES, outputs, strict=True))

        def choose(value: Any, _key: Any, _timestamp: int, _headers: Any) -> Any:
            return by_route[work.route_of(value)]

        sdf.to_topic(choose)
    else:
        if options.case == "compute":
            from cases import model
            sdf = sdf.apply(model.predict_one)
        elif options.case == "lookup":
            table = app.dataframe(app.topic(options.table, value_deserializer="json"))
            sdf = sdf.join_asof(table, how="left", on_merge=merge)
        elif options.case == "aggregate":
            def total(value: dict[str, Any], state: State) -> dict[str, int]:
                new = work.aggregate_step(state.get("total"), value)
                state.set("total", new)
                return new

            sdf = sdf.apply(total, stateful=True)
        elif options.case == "restore":
            def remember(value: dict[str, Any], state: State) -> None:
                state.set(str(value["n"]), value)

            sdf = sdf.update(remember, stateful=True)
        else:
            sdf = sdf.apply(work.enrich)
        sdf.to_topic(outputs[0])
    app.run()


if __name__ == "__main__":
    main()
