"""Apache Kafka Streams 4.1.1 (Java) doing each case it can: a thin launcher.

The harness runs every system as ``<python> bench/peers/<script> ARGS``; this script
checks the arguments, builds the Maven project in ``bench/peers/kstreams/`` if its
jar is missing or older than its sources, and ``exec``s ``java -jar`` with the same
arguments, so the process the harness samples and stops (SIGTERM: the JVM's
shutdown hook closes the client) is the JVM itself.

Build: ``mvn -B -q -o package`` (offline, from ``~/.m2``) first, then online if that
fails (the first build downloads Kafka Streams and the Maven plugins from Maven
Central); the shaded jar and Maven's build directory live in
``.cache/bench-kstreams/``, with a stamp holding the hash of the pom and the Java
sources. ``--build`` builds (if needed) and exits: ``run_all.py`` does that before
any run, so a build never counts as start-up.

Cases: passthrough (``mapValues``), router (``to`` with a ``TopicNameExtractor``)
and aggregate (``groupByKey().aggregate`` into a RocksDB store with its changelog,
``toStream`` to the output); see ``kstreams/src/main/java/bench/kstreams/``.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(BENCH))

from cases import args as cli  # noqa: E402

PROJECT = BENCH / "peers" / "kstreams"
CACHE = BENCH.parent / ".cache" / "bench-kstreams"
JAR = CACHE / "target" / "slither-bench-kstreams.jar"
STAMP = CACHE / "sources.sha256"
BUILD_LOG = CACHE / "build.log"

GUARANTEES = ("at_least_once", "exactly_once_v2")
CASES = ("passthrough", "router", "aggregate")
COMMIT_INTERVAL_MS = {"exactly_once_v2": 100, "at_least_once": 30_000}
"""Kafka Streams' own defaults, set explicitly (the JVM side holds the same)."""
JVM_OPTIONS = ("-Xms256m", "-Xmx512m",
               "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn",
               "-Dorg.slf4j.simpleLogger.showDateTime=true")
"""A fixed heap (the records are small; 512 MB leaves GC rare), Kafka's logging at
WARN (its INFO lines run to thousands per start)."""

SETTINGS = ("Kafka Streams 4.1.1 (OpenJDK 17, -Xmx512m), 1 stream thread; "
            "commit.interval.ms Kafka Streams' defaults (100 exactly_once_v2, "
            "30000 at_least_once); statestore.cache.max.bytes=0 (one output per "
            "record); producer lz4, linger.ms=5, batch.size=1000000 (as slither's "
            "backend); JSON via Jackson's tree model; aggregate: groupByKey().aggregate "
            "into a RocksDB store + changelog, toStream")


def sources() -> list[Path]:
    """The files the jar is built from (a change to any rebuilds it)."""
    return [PROJECT / "pom.xml", *sorted((PROJECT / "src").rglob("*.java"))]


def fingerprint() -> str:
    digest = hashlib.sha256()
    for path in sources():
        digest.update(str(path.relative_to(PROJECT)).encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def is_current() -> bool:
    """True when the jar exists and was built from the sources as they are."""
    return JAR.exists() and STAMP.exists() and STAMP.read_text().strip() == fingerprint()


def maven_command(*, offline: bool) -> list[str]:
    mvn = shutil.which("mvn")
    if mvn is None:
        raise SystemExit("kstreams_app: Maven (mvn) is not on PATH; it builds "
                         f"{PROJECT / 'pom.xml'}")
    return [mvn, "-B", "-q", *(["-o"] if offline else []), "-f", str(PROJECT / "pom.xml"),
            f"-Dkstreams.build.dir={CACHE / 'target'}", "package"]


def ensure_jar() -> Path:
    """Build the jar if it is missing or outdated; return its path."""
    if is_current():
        return JAR
    CACHE.mkdir(parents=True, exist_ok=True)
    stamp = fingerprint()
    with BUILD_LOG.open("w") as log:
        for offline in (True, False):
            log.write(f"$ {' '.join(maven_command(offline=offline))}\n")
            log.flush()
            done = subprocess.run(maven_command(offline=offline), stdout=log,
                                  stderr=subprocess.STDOUT, check=False)
            if done.returncode == 0 and JAR.exists():
                STAMP.write_text(stamp + "\n")
                return JAR
    tail = "\n".join(BUILD_LOG.read_text(errors="replace").splitlines()[-30:])
    raise SystemExit(f"kstreams_app: the Maven build failed (log {BUILD_LOG}):\n{tail}")


def java_command(jar: Path, options: cli.SystemArgs, guarantee: str,
                 commit_interval_ms: int | None = None,
                 config: tuple[str, ...] = ()) -> list[str]:
    """The JVM's command line for one run (``config``: ``key=value`` Kafka Streams
    properties set after the benchmark's own; ``key=`` restores the default)."""
    java = shutil.which("java") or "java"
    interval = (COMMIT_INTERVAL_MS[guarantee] if commit_interval_ms is None
                else commit_interval_ms)
    return [java, *JVM_OPTIONS, "-jar", str(jar), "--case", options.case,
            "--bootstrap", options.bootstrap, "--input", options.input,
            "--outputs", ",".join(options.outputs), "--group", options.group,
            "--state-dir", options.state_dir, "--partitions", str(options.partitions),
            "--guarantee", guarantee, "--commit-interval-ms", str(interval),
            *(arg for entry in config for arg in ("--config", entry))]


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    extra = argparse.ArgumentParser(add_help=False)
    extra.add_argument("--build", action="store_true",
                       help="build the jar if needed, print its path and exit")
    extra.add_argument("--guarantee", default="at_least_once", choices=GUARANTEES)
    extra.add_argument("--commit-interval-ms", type=int, default=None)
    extra.add_argument("--config", action="append", default=[],
                       help="key=value: a Kafka Streams property (tuning studies)")
    known, rest = extra.parse_known_args(argv)
    if known.build:
        print(ensure_jar())
        return
    options = cli.parse(rest)
    if options.case not in CASES:
        raise SystemExit(f"kstreams_app: Kafka Streams does {', '.join(CASES)}, "
                         f"not {options.case!r}")
    if known.commit_interval_ms is not None and known.commit_interval_ms < 1:
        raise SystemExit("kstreams_app: --commit-interval-ms must be >= 1")
    for entry in known.config:
        if "=" not in entry or entry.startswith("="):
            raise SystemExit(f"kstreams_app: --config takes key=value, not {entry!r}")
    command = java_command(ensure_jar(), options, known.guarantee, known.commit_interval_ms,
                           tuple(known.config))
    sys.stdout.flush()
    os.execv(command[0], command)


if __name__ == "__main__":
    main()
