"""Profile slither's stage hot path with pyinstrument (passthrough or router case).

Run: ``.venv/bin/python bench/profile_stage.py [--records N] [--case passthrough]
[--delivery at_least_once] [--bootstrap HOST:PORT]``

Produces ``--records`` input records, then runs the case's single stage in *this*
thread (pyinstrument samples the thread it starts in) until it has consumed them
all, and prints the profile (``--html FILE`` writes the interactive one). The stage
is the same one ``bench/peers/slither_app.py`` runs; the worker's thread and store
session are left out because they only wait.
"""

from __future__ import annotations

import argparse
import sys
import time
import uuid
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
sys.path.insert(1, str(BENCH.parent))

from harness import kafka_io  # noqa: E402
from harness.broker import broker  # noqa: E402
from peers.slither_app import build  # noqa: E402
from pyinstrument import Profiler  # noqa: E402

from slither_stream.log import open_log  # noqa: E402
from slither_stream.pipe.deploy.runner import ensure_topics  # noqa: E402
from slither_stream.pipe.engine.loop import StageLoop  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--case", default="passthrough", choices=("passthrough", "router"))
    parser.add_argument("--delivery", default="at_least_once",
                        choices=("at_least_once", "exactly_once"))
    parser.add_argument("--bootstrap", default=None)
    parser.add_argument("--html", type=Path, default=None)
    args = parser.parse_args()
    group = f"profile_{args.case}_{uuid.uuid4().hex[:6]}"
    definition = build(args.case, group, args.delivery).compile()
    with broker(args.bootstrap) as bootstrap:
        log = open_log(f"kafka://{bootstrap}")
        try:
            ensure_topics(log, definition)
            kafka_io.produce_records(bootstrap, definition.input_topic, 0, args.records)

            def progress(runtime: StageLoop) -> None:
                if runtime.stats.consumed >= args.records:
                    runtime.stop()

            runtime = StageLoop(log, definition, "s", on_progress=progress)
            profiler = Profiler(interval=0.001)
            started = time.perf_counter()
            profiler.start()
            runtime.run()
            profiler.stop()
            elapsed = time.perf_counter() - started
        finally:
            log.close()
    print(f"{args.records:,} records in {elapsed:.2f} s = {args.records / elapsed:,.0f} rec/s "
          "(under the profiler, including group join)")
    print(profiler.output_text(unicode=True, color=False, show_all=False))
    if args.html is not None:
        args.html.write_text(profiler.output_html())
    return 0


if __name__ == "__main__":
    sys.exit(main())
