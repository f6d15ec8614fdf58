"""One measured run of one system on one case.

Throughput cases (passthrough, router, compute): fresh topics, the input produced
before the system starts, then the harness counts output records as they become
readable. ``rate`` is the steady rate: records after the first output poll / (last
output arrival - first output arrival), without process start and group join
(reported apart as ``startup_s``); ``wall_rate`` is records / (last arrival - launch).

Lookup: as a throughput case, but first a table of ``lookup_keys`` rows is produced
to the system's table topic and the stream is keyed by table key (co-partitioned);
the system loads the table during start-up, so the steady rate is the lookup stream.

Aggregate: as a throughput case over records keyed by one of ``aggregate_keys``
users; afterwards every output is read back and checked against the oracle
(``harness/aggregate.py``): a run whose outputs are not exact is an error.

Latency: see ``harness/latency.py``.

Restore: the system builds its state from the input (one entry per record, through
its own changelog), stops, its local state is deleted, and it is started again with
one more input record; the time from launch to that record's output minus the
startup time of the build run (same process, empty state) is the restore time.
"""

from __future__ import annotations

import shutil
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import orjson
from cases import args as cli
from cases import work
from confluent_kafka.admin import AdminClient

from harness import aggregate, kafka_io, latency
from harness.procs import SystemProcess
from harness.systems import System

LATENCY_GRACE_S = 30.0
"""How long the latency case waits for outputs after the paced input ends."""
LOOKUP_SAMPLE = 5_000
"""Outputs of the lookup case checked for their table row."""


@dataclass
class RunResult:
    system: str
    case: str
    rep: int
    records: int
    received: int = 0
    rate: float | None = None
    wall_rate: float | None = None
    startup_s: float | None = None
    peak_rss_mb: float | None = None
    cpu_us_per_record: float | None = None
    """CPU time of the system's process tree (start-up included) per input record: a
    figure that background load on a shared machine disturbs much less than rates."""
    error: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Topics:
    group: str
    input: str
    outputs: tuple[str, ...]
    table: str = ""
    """The lookup case's table topic (empty otherwise)."""
    extra: tuple[str, ...] = ()
    """Further topics the harness creates (the latency case's intermediate topics)."""


def topics_for(system: System, case: str, rep: int) -> Topics:
    """Fresh names for one run (slither's pipe derives its topics from the group)."""
    group = f"bench_{case}_{system.name.replace('-', '_')}_{rep}_{uuid.uuid4().hex[:6]}"
    routes = work.ROUTES if case in cli.MULTI_OUTPUT else ("default",)
    outputs = tuple(f"{group}.out.{r}" for r in routes)
    table = system.table_topic.format(group=group) if case == "lookup" else ""
    if system.slither_topics:
        return Topics(group, f"{group}.s.in", outputs, table)
    extra = cli.mid_topics(group) if case == "latency" else ()
    return Topics(group, f"{group}.in", outputs, table, extra)


class Bench:
    """What every run needs: the broker, where logs and state go, the time limit."""

    def __init__(self, bootstrap: str, work_dir: Path, *, timeout: float,
                 budget: float | None = None) -> None:
        self.bootstrap = bootstrap
        self.work_dir = work_dir
        self.timeout = timeout
        self.budget = budget
        """Seconds of output after which a throughput run stops measuring (None: it
        runs to the last record). Its rate is then the steady rate over what came
        out, and the run says how many records that was."""

    def _launch(self, system: System, case: str, topics: Topics,
                state_dir: Path) -> SystemProcess:
        argv = [*system.argv(), "--case", case, "--bootstrap", self.bootstrap,
                "--input", topics.input, "--outputs", ",".join(topics.outputs),
                "--group", topics.group, "--state-dir", str(state_dir)]
        if topics.table:
            argv += ["--table", topics.table]
        state_dir.mkdir(parents=True, exist_ok=True)
        return SystemProcess(argv, name=system.name,
                             log_path=self.work_dir / "logs" / f"{topics.group}.log",
                             cwd=state_dir)

    def throughput(self, system: System, case: str, records: int, rep: int,
                   *, keep_state: bool = False, lookup_keys: int = 0,
                   aggregate_keys: int = 0) -> tuple[RunResult, Topics, Path]:
        """Run ``system`` over ``records`` fresh input records of ``case`` (lookup:
        keyed by one of ``lookup_keys`` table keys, after the table's rows;
        aggregate: keyed by one of ``aggregate_keys`` users, outputs verified)."""
        topics = topics_for(system, case, rep)
        state_dir = self.work_dir / "state" / topics.group
        result = RunResult(system.name, case, rep, records)
        kafka_io.create_topics(self.bootstrap, [topics.input, *topics.outputs])
        key = work.key_of
        value = work.record
        partition = None
        if case == "aggregate":
            if aggregate_keys < 1:
                raise ValueError("the aggregate case needs aggregate_keys >= 1")

            def key(n: int) -> bytes:
                return work.aggregate_key(n, aggregate_keys)

            def value(n: int, now_ms: int) -> Any:
                return work.aggregate_record(n, now_ms, aggregate_keys)

            result.extra["aggregate_keys"] = aggregate_keys
        if case == "lookup":
            kafka_io.create_topics(self.bootstrap, [topics.table])

            def key(n: int) -> bytes:
                return work.lookup_key(n, lookup_keys)

            def partition(n: int) -> int:
                return work.lookup_partition(n, lookup_keys, kafka_io.PARTITIONS)

            def table_key(n: int) -> bytes:
                return orjson.dumps(key(n).decode()) if system.json_table_keys else key(n)

            result.extra["table_produce_s"] = kafka_io.produce_records(
                self.bootstrap, topics.table, 0, lookup_keys, key=table_key,
                value=lambda i, _now: work.table_row(i), partition=partition)
            result.extra["lookup_keys"] = lookup_keys
        result.extra["input_produce_s"] = kafka_io.produce_records(
            self.bootstrap, topics.input, 0, records, key=key, value=value,
            partition=partition)
        counter = kafka_io.OutputCounter(self.bootstrap, topics.outputs)
        process = self._launch(system, case, topics, state_dir)
        try:
            arrivals = counter.wait_for(records, timeout=self.timeout, alive=process.alive,
                                        # a restore's build needs every entry
                                        budget=None if keep_state else self.budget)
        finally:
            peak, code = process.stop()
            counter.close()
        result.received = arrivals.count
        result.peak_rss_mb = peak / 2**20
        result.extra["rss_by_process_mb"] = process.rss.by_process_mb()
        result.cpu_us_per_record = process.cpu_s / max(arrivals.count, 1) * 1e6
        if arrivals.budget_spent:
            result.extra["budget_s"] = self.budget
        if arrivals.first is not None and arrivals.last is not None:
            result.startup_s = arrivals.first - process.launched
            result.wall_rate = arrivals.count / (arrivals.last - process.launched)
            if arrivals.last > arrivals.first:
                result.rate = ((arrivals.count - arrivals.first_batch)
                               / (arrivals.last - arrivals.first))
            else:  # everything came in one poll: no steady interval to measure
                result.rate = result.wall_rate
                result.extra["rate_is_wall"] = True
        if arrivals.half is not None and arrivals.last is not None \
                and arrivals.last > arrivals.half:
            # the rate over the second half of the outputs: a JIT-compiled peer
            # (Kafka Streams) is still warming up over the first seconds
            result.extra["second_half_rate"] = ((arrivals.count - arrivals.half_count)
                                                / (arrivals.last - arrivals.half))
        if arrivals.count < records and not arrivals.budget_spent:
            why = ("timed out" if arrivals.timed_out else
                   f"stalled (no output for {kafka_io.STALL_S:g} s)" if arrivals.stalled
                   else f"process exited with {code}" if arrivals.process_died
                   else "stopped")
            result.error = (f"{why} after {arrivals.count:,} of {records:,} records; "
                            f"log tail:\n{process.tail()}")
        result.extra["output_end_offsets"] = kafka_io.end_offsets(self.bootstrap,
                                                                  topics.outputs)
        if case == "lookup" and arrivals.count:
            sample = kafka_io.sample_values(self.bootstrap, topics.outputs,
                                            min(records, LOOKUP_SAMPLE))
            misses = sum(1 for value in sample if value.get("profile") is None)
            result.extra["lookup_sample"] = len(sample)
            result.extra["lookup_misses"] = misses
            if misses and result.error is None:
                result.error = (f"{misses} of {len(sample)} sampled outputs were not "
                                "enriched (no table row found)")
        if case == "aggregate" and arrivals.count:
            self._verify_aggregate(result, topics, records, aggregate_keys,
                                   complete=not arrivals.budget_spent)
        if not keep_state:
            self.cleanup(topics, state_dir)
        return result, topics, state_dir

    def _verify_aggregate(self, result: RunResult, topics: Topics, records: int,
                          keys: int, *, complete: bool) -> None:
        """Read every output back and check it against the oracle (an error if not
        exact; the check's counts go to ``extra["aggregate"]``)."""
        oracle = aggregate.Oracle.build(records, keys)
        check = aggregate.verify(kafka_io.read_all(self.bootstrap, topics.outputs), oracle,
                                 complete=complete)
        result.extra["aggregate"] = check.as_dict()
        if not check.ok and result.error is None:
            result.error = check.message()

    def restore(self, system: System, records: int, rep: int) -> RunResult:
        """Build state over ``records`` records, wipe it locally, time the recovery."""
        build, topics, state_dir = self.throughput(system, "restore", records, rep,
                                                   keep_state=True)
        result = RunResult(system.name, "restore", rep, records,
                           peak_rss_mb=build.peak_rss_mb,
                           extra={"build_rate": build.rate, "build_startup_s": build.startup_s})
        try:
            if build.error is not None or build.startup_s is None:
                result.error = f"building the state failed: {build.error}"
                return result
            shutil.rmtree(state_dir)
            ends = kafka_io.current_ends(self.bootstrap, topics.outputs)
            kafka_io.produce_records(self.bootstrap, topics.input, records, 1)
            counter = kafka_io.OutputCounter(self.bootstrap, topics.outputs, start=ends)
            process = self._launch(system, "restore", topics, state_dir)
            try:
                arrivals = counter.wait_for(1, timeout=self.timeout, alive=process.alive)
            finally:
                peak, code = process.stop()
                counter.close()
            if arrivals.first is None:
                result.error = (f"no output after restart (exit {code}); log tail:\n"
                                f"{process.tail()}")
                return result
            first_output = arrivals.first - process.launched
            restore_s = max(first_output - build.startup_s, 1e-3)
            result.received = records
            result.rate = records / restore_s
            result.wall_rate = records / first_output
            result.startup_s = first_output
            result.peak_rss_mb = max(result.peak_rss_mb or 0.0, peak / 2**20)
            result.extra["restore_s"] = restore_s
            result.cpu_us_per_record = process.cpu_s / records * 1e6
            return result
        finally:
            self.cleanup(topics, state_dir)

    def backlog(self, system: System, records: int, rep: int, seconds: float) -> RunResult:
        """Peak RSS while a slow stage works through a ``records`` backlog for
        ``seconds`` (the backlog is never finished: memory must stay bounded anyway)."""
        topics = topics_for(system, "backlog", rep)
        state_dir = self.work_dir / "state" / topics.group
        result = RunResult(system.name, "backlog", rep, records)
        try:
            kafka_io.create_topics(self.bootstrap, [topics.input, *topics.outputs])
            kafka_io.produce_records(self.bootstrap, topics.input, 0, records)
            counter = kafka_io.OutputCounter(self.bootstrap, topics.outputs)
            process = self._launch(system, "backlog", topics, state_dir)
            try:
                arrivals = counter.wait_for(records, timeout=seconds, alive=process.alive)
            finally:
                peak, code = process.stop()
                counter.close()
            result.received = arrivals.count
            result.peak_rss_mb = peak / 2**20
            result.extra["rss_by_process_mb"] = process.rss.by_process_mb()
            result.extra["seconds"] = seconds
            if arrivals.process_died or arrivals.first is None or arrivals.last is None:
                result.error = (f"process exited with {code} or produced nothing after "
                                f"{arrivals.count:,} records; log tail:\n{process.tail()}")
                return result
            result.startup_s = arrivals.first - process.launched
            result.wall_rate = arrivals.count / (arrivals.last - process.launched)
            result.rate = (result.wall_rate if arrivals.last == arrivals.first else
                           (arrivals.count - arrivals.first_batch)
                           / (arrivals.last - arrivals.first))
            result.cpu_us_per_record = process.cpu_s / max(arrivals.count, 1) * 1e6
            return result
        finally:
            self.cleanup(topics, state_dir)

    def latency(self, system: System, rep: int, *, rate: float, seconds: float,
                warmup_s: float) -> RunResult:
        """End-to-end latency at ``rate`` records/s through the 3-stage case for
        ``warmup_s + seconds``; percentiles over the records after the warm-up."""
        topics = topics_for(system, "latency", rep)
        state_dir = self.work_dir / "state" / topics.group
        warmup = int(rate * warmup_s)
        total = warmup + int(rate * seconds)
        result = RunResult(system.name, "latency", rep, total)
        try:
            kafka_io.create_topics(self.bootstrap,
                                   [topics.input, *topics.outputs, *topics.extra])
            reader = latency.LatencyReader(self.bootstrap, topics.outputs)
            pacer = latency.Pacer(self.bootstrap, topics.input, rate=rate, total=total)
            process = self._launch(system, "latency", topics, state_dir)
            try:
                ready = reader.wait_probe(timeout=min(self.timeout, 120.0),
                                          alive=process.alive, send=pacer.send_probe)
                if ready is None:
                    result.error = f"the probe record never came out; log tail:\n{process.tail()}"
                    return result
                result.startup_s = ready
                pacer.start()
                timings = reader.read(total, warmup, timeout=warmup_s + seconds + LATENCY_GRACE_S,
                                      alive=process.alive)
            finally:
                pacer.stop()
                peak, code = process.stop()
                reader.close()
            result.peak_rss_mb = peak / 2**20
            result.cpu_us_per_record = process.cpu_s / total * 1e6
            result.received = timings.received
            if pacer.error is not None:
                result.error = f"the paced producer failed: {pacer.error!r}"
                return result
            if pacer.started is not None and pacer.finished is not None:
                result.extra["input_rate"] = pacer.sent / max(pacer.finished - pacer.started,
                                                              1e-9)
            if timings.process_died or not timings.latencies_ms:
                why = (f"process exited with {code}" if timings.process_died
                       else f"cannot sustain {rate:,.0f} rec/s: no record sent after the "
                            f"warm-up arrived within {LATENCY_GRACE_S:g} s of the input's end")
                result.error = (f"{why} after {timings.received:,} of {total:,} records; "
                                f"log tail:\n{process.tail()}")
                return result
            if timings.received < total:  # it cannot keep up: the queue only grows
                result.extra["incomplete"] = (
                    f"only {timings.received:,} of {total:,} records arrived within "
                    f"{LATENCY_GRACE_S:g} s after the input ended: cannot sustain "
                    f"{rate:,.0f} rec/s; percentiles of those that arrived (understated)")
            ordered = sorted(timings.latencies_ms)
            result.extra.update(
                p50_ms=latency.percentile(ordered, 0.50),
                p99_ms=latency.percentile(ordered, 0.99), max_ms=ordered[-1],
                measured=len(ordered), warmup=warmup, duplicates=timings.duplicates)
            if timings.first is not None and timings.last is not None \
                    and timings.last > timings.first:
                result.rate = timings.received / (timings.last - timings.first)
            return result
        finally:
            self.cleanup(topics, state_dir)

    def cleanup(self, topics: Topics, state_dir: Path) -> None:
        """Delete the run's topics (its own and those the system made) and state."""
        admin = AdminClient({"bootstrap.servers": self.bootstrap})
        names = [name for name in admin.list_topics(timeout=30).topics
                 if topics.group in name]
        if names:
            for future in admin.delete_topics(names, operation_timeout=30).values():
                try:
                    future.result(60)
                except Exception:
                    continue
        shutil.rmtree(state_dir, ignore_errors=True)
