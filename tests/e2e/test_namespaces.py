"""Two deployments of one pipe under two namespaces share nothing, stores included.

Issue 22: a store's changelog and control topics were named after the pipe, so a
reload under namespace ``fraud`` showed up in a separate deployment under
``fraud-f``. Here the same pipe and store run under namespaces A and B side by side:
a reload in A and a put in B are each seen only in their own namespace; every
topic, group and directory each deployment made carries its namespace.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import orjson
import pytest

from slither_stream.log import Log, open_log
from slither_stream.pipe.definition import PipeDefinition
from slither_stream.pipe.deploy.runner import Runner, ensure_topics
from slither_stream.pipe.deploy.sessions import StoreSession
from slither_stream.store.control import control_topic
from slither_stream.store.owner import changelog_topic
from tests.cli.helpers import slither
from tests.e2e.ns_topology import PROFILES_ENV, pipe
from tests.e2e.test_workers import worker_process

Names = Callable[[str], str]
TOPOLOGY = "tests/e2e/ns_topology.py"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def profiles(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[[dict[str, str]], None]:
    """Write the profiles file ``load()`` reads: ``profiles({"u1": "gold"})``."""
    path = tmp_path / "profiles.json"
    monkeypatch.setenv(PROFILES_ENV, str(path))

    def write(tiers: dict[str, str]) -> None:
        path.write_bytes(orjson.dumps({user: {"tier": tier} for user, tier in tiers.items()}))

    return write


def _tiers(log: Log | str, definition: PipeDefinition, store_dir: Path) -> dict[str, str]:
    """Run the pipe in its namespace over u1, u2: user -> tier seen by the stage."""
    outputs = Runner.run(definition, [{"user": "u1"}, {"user": "u2"}], log=log,
                         namespace=definition.namespace, store_dir=str(store_dir),
                         timeout=120)
    return {item.payload["user"]: item.payload["tier"] for item in outputs["default"]}


def _topics(log_url: str) -> list[str]:
    with open_log(log_url) as log:
        return log.list_topics()


def test_two_namespaces_keep_their_own_store(log_url: str, unique_name: Names,
                                             tmp_path: Path,
                                             profiles: Callable[[dict[str, str]], None]
                                             ) -> None:
    a = pipe.compile().with_namespace(unique_name("ns-a"))
    b = pipe.compile().with_namespace(unique_name("ns-b"))
    stores = tmp_path / "stores"
    before = set(_topics(log_url))  # the Kafka broker outlives each test
    profiles({"u1": "gold", "u2": "silver"})
    assert _tiers(log_url, a, stores) == {"u1": "gold", "u2": "silver"}
    assert _tiers(log_url, b, stores) == {"u1": "gold", "u2": "silver"}

    # a reload from load() in A, with new data
    profiles({"u1": "platinum", "u2": "silver"})
    result = slither("reload", f"{TOPOLOGY}:profiles", "--namespace", a.namespace,
                     "--source", "load", "--via", "local", "--data-dir", str(stores),
                     "--log", log_url, env={PROFILES_ENV: os.environ[PROFILES_ENV]})
    assert result.returncode == 0, result.stderr
    assert f"reloaded store profiles (app {a.namespace}) from load" in result.stdout

    # a put in B
    with open_log(log_url) as log, \
            StoreSession(b, log, "test-put", data_dir=stores) as session:
        session.stores["profiles"].table("users").put("u2", {"tier": "bronze"})

    assert _tiers(log_url, a, stores) == {"u1": "platinum", "u2": "silver"}
    assert _tiers(log_url, b, stores) == {"u1": "gold", "u2": "bronze"}

    # everything each deployment made is under its namespace
    for definition in (a, b):
        ns = definition.namespace
        assert (stores / ns / "profiles").is_dir()
        assert changelog_topic(ns, "profiles", "users") in _topics(log_url)
    assert not (stores / pipe.name).exists()
    made = sorted(set(_topics(log_url)) - before)
    assert made and all(t.startswith((f"{a.namespace}.", f"{b.namespace}."))
                        for t in made), made


def test_describe_names_the_namespaced_changelog() -> None:
    result = slither("describe", TOPOLOGY, "--namespace", "prod", "--format", "json")
    assert result.returncode == 0, result.stderr
    described = orjson.loads(result.stdout)
    assert described["stores"][0]["changelogs"] == ["prod.profiles.users.changelog"]


def test_store_commands_refuse_disagreeing_app_and_namespace(tmp_path: Path) -> None:
    result = slither("reload", f"{TOPOLOGY}:profiles", "--namespace", "a", "--app", "b",
                     "--data-dir", str(tmp_path))
    assert result.returncode == 2
    assert "--app 'b' and --namespace 'a' disagree" in result.stderr


@pytest.mark.kafka
def test_reload_through_one_namespace_control_topic_spares_the_other(
        kafka_bootstrap: str, unique_name: Names, tmp_path: Path,
        profiles: Callable[[dict[str, str]], None]) -> None:
    """The issue's run: workers of one pipe under two namespaces on one cluster; a
    reload asked for in one (over its control topic, answered by its supervisor)
    changes that deployment's outputs only."""
    log_url = f"kafka://{kafka_bootstrap}"
    a = pipe.compile().with_namespace(unique_name("ns-a"))
    b = pipe.compile().with_namespace(unique_name("ns-b"))
    profiles({"u1": "gold"})
    before = set(_topics(log_url))
    with open_log(log_url) as log:
        for definition in (a, b):
            ensure_topics(log, definition)
        with _workers(log_url, (a, b), tmp_path) as outputs:
            _send(log, (a, b), "u1", 0)
            assert outputs.tiers(a, 1) == ["gold"] and outputs.tiers(b, 1) == ["gold"]

            profiles({"u1": "platinum"})
            result = slither("reload", f"{ROOT / TOPOLOGY}:profiles", "--namespace",
                             a.namespace, "--source", "load", "--via", "control",
                             "--log", log_url,
                             cwd=tmp_path / a.namespace)
            assert result.returncode == 0, result.stderr
            assert f"(app {a.namespace}) from load" in result.stdout, result.stdout
            # readers switch to the new generation on their next catch-up (~1 s):
            # send until A shows it; B must keep gold all along
            for n in range(1, 60):
                _send(log, (a, b), "u1", n)
                if outputs.tiers(a, n + 1)[-1] == "platinum":
                    break
            else:
                pytest.fail(f"A never saw its reload: {outputs.tiers(a, 1)}")
            assert set(outputs.tiers(b, n + 1)) == {"gold"}
        for definition in (a, b):
            assert control_topic(definition.namespace) in log.list_topics()
            assert changelog_topic(definition.namespace, "profiles", "users") \
                in log.list_topics()
        made = set(log.list_topics()) - before
        assert all(t.startswith((f"{a.namespace}.", f"{b.namespace}.")) for t in made), made


def _send(log: Log, definitions: tuple[PipeDefinition, ...], user: str, n: int) -> None:
    with log.producer() as producer:
        for definition in definitions:
            producer.produce(definition.input_topic, orjson.dumps({"user": user, "n": n}))
        producer.flush(30)


class _Outputs:
    """The default output of each deployment, read as it arrives."""

    def __init__(self, log: Log, definitions: tuple[PipeDefinition, ...]) -> None:
        self.log = log
        self.seen: dict[str, list[tuple[int, str]]] = {d.namespace: [] for d in definitions}
        self.by_topic = {d.output_topic("default"): d.namespace for d in definitions}
        self.consumer = log.consumer(f"test-outputs-{os.getpid()}-{id(self)}")
        self.consumer.assign([(tp, 0) for topic in self.by_topic
                              for tp in log.partitions_of(topic)])

    def tiers(self, definition: PipeDefinition, count: int) -> list[str]:
        """The tiers of the first ``count`` outputs of ``definition``, by input n."""
        deadline = time.monotonic() + 90
        got = self.seen[definition.namespace]
        while len(got) < count:
            assert time.monotonic() < deadline, f"{definition.namespace}: only {got}"
            for record in self.consumer.poll_batch(100, 0.5):
                payload = orjson.loads(record.value or b"")
                self.seen[self.by_topic[record.topic]].append((payload["n"], payload["tier"]))
        return [tier for _, tier in sorted(got)[:count]]


@contextmanager
def _workers(log_url: str, definitions: tuple[PipeDefinition, ...],
             tmp_path: Path) -> Iterator[_Outputs]:
    """One ``slither worker`` per deployment (its supervisor owns the store), each in
    a directory of its own, and a reader of their outputs."""
    with ExitStack() as stack:
        for definition in definitions:
            cwd = tmp_path / definition.namespace
            cwd.mkdir()
            _, lines = stack.enter_context(worker_process(
                log_url, str(ROOT / TOPOLOGY), definition.namespace, cwd=cwd))
            found = lines.wait_for(r"supervisor owns stores profiles in (\S+)")
            assert Path(found.group(1)) == Path(".slither-stores") \
                or Path(found.group(1)) == cwd / ".slither-stores", found.group(1)
        log = stack.enter_context(open_log(log_url))
        outputs = _Outputs(log, definitions)
        stack.callback(outputs.consumer.close)
        yield outputs
