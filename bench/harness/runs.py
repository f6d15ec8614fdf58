"""One measured run of one system on one case.

Throughput cases (passthrough, router, compute): fresh topics, the input produced
before the system starts, then the harness counts output records as they become
readable. ``rate`` is the steady rate: records after the first output poll / (last
output arrival - first output arrival), without process start and group join
(reported apart as ``startup_s``); ``wall_rate`` is records / (last arrival - launch).

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

from cases import work
from confluent_kafka.admin import AdminClient

from harness import kafka_io
from harness.procs import SystemProcess
from harness.systems import System


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


def topics_for(system: System, case: str, rep: int) -> Topics:
    """Fresh names for one run (slither's pipe derives its topics from the group)."""
    group = f"bench_{case}_{system.name.replace('-', '_')}_{rep}_{uuid.uuid4().hex[:6]}"
    routes = work.ROUTES if case == "router" else ("default",)
    if system.slither_topics:
        return Topics(group, f"{group}.s.in", tuple(f"{group}.out.{r}" for r in routes))
    return Topics(group, f"{group}.in", tuple(f"{group}.out.{r}" for r in routes))


class Bench:
    """What every run needs: the broker, where logs and state go, the time limit."""

    def __init__(self, bootstrap: str, work_dir: Path, *, timeout: float) -> None:
        self.bootstrap = bootstrap
        self.work_dir = work_dir
        self.timeout = timeout

    def _launch(self, system: System, case: str, topics: Topics,
                state_dir: Path) -> SystemProcess:
        argv = [*system.argv(), "--case", case, "--bootstrap", self.bootstrap,
                "--input", topics.input, "--outputs", ",".join(topics.outputs),
                "--group", topics.group, "--state-dir", str(state_dir)]
        state_dir.mkdir(parents=True, exist_ok=True)
        return SystemProcess(argv, name=system.name,
                             log_path=self.work_dir / "logs" / f"{topics.group}.log",
                             cwd=state_dir)

    def throughput(self, system: System, case: str, records: int, rep: int,
                   *, keep_state: bool = False) -> tuple[RunResult, Topics, Path]:
        """Run ``system`` over ``records`` fresh input records of ``case``."""
        topics = topics_for(system, case, rep)
        state_dir = self.work_dir / "state" / topics.group
        result = RunResult(system.name, case, rep, records)
        kafka_io.create_topics(self.bootstrap, [topics.input, *topics.outputs])
        result.extra["input_produce_s"] = kafka_io.produce_records(
            self.bootstrap, topics.input, 0, records)
        counter = kafka_io.OutputCounter(self.bootstrap, topics.outputs)
        process = self._launch(system, case, topics, state_dir)
        try:
            arrivals = counter.wait_for(records, timeout=self.timeout, alive=process.alive)
        finally:
            peak, code = process.stop()
            counter.close()
        result.received = arrivals.count
        result.peak_rss_mb = peak / 2**20
        result.cpu_us_per_record = process.cpu_s / records * 1e6
        if arrivals.first is not None and arrivals.last is not None:
            result.startup_s = arrivals.first - process.launched
            result.wall_rate = arrivals.count / (arrivals.last - process.launched)
            if arrivals.last > arrivals.first:
                result.rate = ((arrivals.count - arrivals.first_batch)
                               / (arrivals.last - arrivals.first))
            else:  # everything came in one poll: no steady interval to measure
                result.rate = result.wall_rate
                result.extra["rate_is_wall"] = True
        if arrivals.count < records:
            why = ("timed out" if arrivals.timed_out else
                   f"process exited with {code}" if arrivals.process_died else "stopped")
            result.error = (f"{why} after {arrivals.count:,} of {records:,} records; "
                            f"log tail:\n{process.tail()}")
        result.extra["output_end_offsets"] = kafka_io.end_offsets(self.bootstrap,
                                                                  topics.outputs)
        if not keep_state:
            self.cleanup(topics, state_dir)
        return result, topics, state_dir

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
