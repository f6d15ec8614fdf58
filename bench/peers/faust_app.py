"""Faust (faust-streaming 0.15.3) doing each case (runs in ``.cache/bench-venvs/faust``).

One agent per case, ``await topic.send`` per record (Faust's documented style),
JSON values, raw keys. Throughput knobs as stated in ``SETTINGS``; the table store is
``memory://`` (Faust's default: RocksDB needs a native build not available here), so
a restart recovers the whole table from its changelog, which is what restore measures.
Compute calls the model once per record (Faust agents process events one by one).
Aggregate: a table ``totals`` (key: the record's key as text; changelog topic
``<app>-totals-changelog``), read and written per record, the new total sent on.

Lookup: a table ``lookup`` whose changelog topic the harness filled with the table's
rows (JSON keys, as Faust's table writes them; co-partitioned with the stream by
explicit partition): Faust recovers the table from it before the agent runs, then
looks each record's key up (``table.get``). Latency: three agents
chained through the intermediate topics, ``producer_linger`` 5 ms as elsewhere.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import faust
from cases import args as cli
from cases import work

SETTINGS = ("agent with await send per record, json values, raw keys, "
            "producer_linger=5 ms, stream_buffer_maxsize=4096, broker_commit_every=10000, "
            "table store memory:// + changelog, 1 process; compute per record; "
            "aggregate: Table read and set per record; lookup: "
            "Table recovered from its changelog, table.get per record; latency: 3 chained "
            "agents, producer_linger=5 ms")


def build(options: cli.SystemArgs) -> faust.App:
    app = faust.App(options.group, broker=f"kafka://{options.bootstrap}",
                    value_serializer="json", key_serializer="raw", store="memory://",
                    datadir=options.state_dir or "faust-data",
                    topic_partitions=options.partitions, web_enabled=False,
                    producer_linger=0.005, stream_buffer_maxsize=4096,
                    broker_commit_every=10_000, consumer_auto_offset_reset="earliest")
    source = app.topic(options.input, key_serializer="raw", value_serializer="json")
    outputs = [app.topic(name, key_serializer="raw", value_serializer="json",
                         partitions=options.partitions) for name in options.outputs]
    by_route = dict(zip(work.ROUTES, outputs, strict=False))
    table = (app.Table("state", partitions=options.partitions, default=None)
             if options.case == "restore" else None)
    lookup = (app.Table("lookup", partitions=options.partitions, default=None)
              if options.case == "lookup" else None)
    totals = (app.Table("totals", partitions=options.partitions, default=None)
              if options.case == "aggregate" else None)
    if options.case == "latency":
        chain(app, options, outputs)
        return app
    compute = None
    if options.case == "compute":
        from cases import model
        compute = model.predict_one

    @app.agent(source)
    async def process(stream: Any) -> None:
        async for key, value in stream.items():
            if options.case == "router":
                await by_route[work.route_of(value)].send(key=key, value=value)
                continue
            if compute is not None:
                result = compute(value)
            elif lookup is not None:
                result = work.join(value, lookup.get(key.decode()))
            elif totals is not None:
                user = key.decode()
                result = totals[user] = work.aggregate_step(totals.get(user), value)
            elif table is not None:
                table[str(value["n"])] = value
                result = value
            else:
                result = work.enrich(value)
            await outputs[0].send(key=key, value=result)

    return app


def chain(app: faust.App, options: cli.SystemArgs, outputs: list[Any]) -> None:
    """The latency case: input -> mid1 -> mid2 -> routed output, one agent each."""
    mid1, mid2 = (app.topic(name, key_serializer="raw", value_serializer="json",
                            partitions=options.partitions)
                  for name in cli.mid_topics(options.group))
    source = app.topic(options.input, key_serializer="raw", value_serializer="json")
    by_route = dict(zip(work.ROUTES, outputs, strict=True))

    @app.agent(source)
    async def first(stream: Any) -> None:
        async for key, value in stream.items():
            await mid1.send(key=key, value=work.enrich(value))

    @app.agent(mid1)
    async def second(stream: Any) -> None:
        async for key, value in stream.items():
            await mid2.send(key=key, value=work.enrich(value))

    @app.agent(mid2)
    async def third(stream: Any) -> None:
        async for key, value in stream.items():
            enriched = work.enrich(value)
            await by_route[work.route_of(enriched)].send(key=key, value=enriched)


def main() -> None:
    options = cli.parse()
    app = build(options)
    sys.argv = [sys.argv[0], "worker", "-l", "warn", "--without-web"]
    app.main()


if __name__ == "__main__":
    main()
