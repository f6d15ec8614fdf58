"""The systems under test: which interpreter and script run them, their settings,
how they name topics and which cases they cannot do (and why)."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1]
ROOT = BENCH.parent
PEERS = BENCH / "peers"
VENVS = ROOT / ".cache" / "bench-venvs"


@dataclass(frozen=True)
class System:
    name: str
    script: str
    venv: str | None
    """Peer venv under ``.cache/bench-venvs`` (None: the project's interpreter)."""
    settings: str
    extra_args: tuple[str, ...] = ()
    slither_topics: bool = False
    """Input must be ``<group>.s.in`` and outputs ``<group>.out.<name>``."""
    unsupported: dict[str, str] = field(default_factory=dict)
    in_default: bool = True
    """Run when ``--systems`` is not given (variants for tuning studies are not)."""
    table_topic: str = "{group}.table"
    """Where the lookup case's table goes (``{group}`` is the run's group): a topic the
    system loads, or for Faust its table's changelog, which it recovers on start."""
    json_table_keys: bool = False
    """The table's keys are JSON strings (Faust's table key serializer), not raw."""
    prepare: tuple[str, ...] = ()
    """A command run once before any run of the system (a build), so that building
    never counts as start-up; empty: nothing to prepare."""

    @property
    def python(self) -> Path:
        if self.venv is None:
            return Path(sys.executable)
        return VENVS / self.venv / "bin" / "python"

    def argv(self) -> list[str]:
        return [str(self.python), str(PEERS / self.script), *self.extra_args]


def _settings(script: str) -> str:
    """The ``SETTINGS`` line of a system script, read without importing it (peers'
    scripts import libraries the project venv does not have)."""
    import ast

    tree = ast.parse((PEERS / script).read_text())
    for node in tree.body:
        if (isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == "SETTINGS" for t in node.targets)):
            value = node.value
            if isinstance(value, ast.JoinedStr):  # f-string: show the literal parts
                return "".join(part.value if isinstance(part, ast.Constant) else "{…}"
                               for part in value.values)
            return str(ast.literal_eval(value))
    raise RuntimeError(f"{script} has no SETTINGS string")


NO_STATE = "no state: a bare client loop has no table to restore"
SLITHER_ONLY = ("the issue bounds slither's memory under a backlog; peers' peak RSS is "
                "in the passthrough table")


KSTREAMS_CANNOT = {
    "compute": "the compute model is Python (NumPy): a JVM peer would run another "
               "workload, not the same one",
    "lookup": "not written yet for Kafka Streams (a GlobalKTable or a KTable join)",
    "restore": "not written yet for Kafka Streams (a KTable of one entry per record)",
    "latency": "not written yet for Kafka Streams (three chained topologies)",
    "backlog": SLITHER_ONLY,
}


def kstreams(name: str, guarantee: str, settings: str, *, config: tuple[str, ...] = (),
             in_default: bool = True) -> System:
    """Kafka Streams under ``guarantee``: the launcher ``kstreams_app.py`` (project
    interpreter) builds the jar if needed and execs the JVM; ``config`` holds
    ``key=value`` properties over the benchmark's (tuning variants)."""
    launcher = PEERS / "kstreams_app.py"
    extra = tuple(arg for entry in config for arg in ("--config", entry))
    shown = f"{guarantee}, {', '.join(config)}" if config else guarantee
    return System(name, "kstreams_app.py", None, f"{shown}; {settings}",
                  extra_args=("--guarantee", guarantee, *extra),
                  unsupported=dict(KSTREAMS_CANNOT), in_default=in_default,
                  prepare=(sys.executable, str(launcher), "--build"))


def all_systems() -> dict[str, System]:
    """Every system by name, in table order."""
    slither_settings = _settings("slither_app.py")
    kstreams_settings = _settings("kstreams_app.py")
    systems = [
        System("raw-kafka", "raw_kafka.py", None, _settings("raw_kafka.py"),
               unsupported={"restore": NO_STATE, "backlog": SLITHER_ONLY}),
        System("slither", "slither_app.py", None, "at_least_once; " + slither_settings,
               slither_topics=True),
        System("slither-eos", "slither_app.py", None, "exactly_once; " + slither_settings,
               extra_args=("--delivery", "exactly_once"), slither_topics=True),
        System("slither-b5000", "slither_app.py", None,
               "at_least_once, batch_size=5000; " + slither_settings,
               extra_args=("--batch-size", "5000"), slither_topics=True, in_default=False),
        System("quix", "quix_app.py", "quix", _settings("quix_app.py"),
               unsupported={"backlog": SLITHER_ONLY}),
        System("faust", "faust_app.py", "faust", _settings("faust_app.py"),
               unsupported={"backlog": SLITHER_ONLY},
               table_topic="{group}-lookup-changelog", json_table_keys=True),
        kstreams("kstreams", "at_least_once", kstreams_settings),
        kstreams("kstreams-eos", "exactly_once_v2", kstreams_settings),
        # Kafka Streams' own producer settings (no compression, its batch.size and
        # linger.ms): does matching slither's producer help or hurt it?
        *(kstreams(f"{name}-pdef", guarantee, kstreams_settings, in_default=False,
                   config=("producer.compression.type=", "producer.linger.ms=",
                           "producer.batch.size="))
          for name, guarantee in (("kstreams", "at_least_once"),
                                  ("kstreams-eos", "exactly_once_v2"))),
    ]
    return {system.name: system for system in systems}
