"""The aggregate case's oracle and exact check, the report's verdicts, and how the
Kafka Streams peer is launched (no broker, no JVM)."""

from __future__ import annotations

import sys
from pathlib import Path

import orjson
import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))

from cases import args as cli  # noqa: E402
from cases import work  # noqa: E402
from harness import aggregate, report  # noqa: E402
from harness.runs import RunResult  # noqa: E402
from harness.systems import PEERS, all_systems  # noqa: E402
from peers import kstreams_app  # noqa: E402

INPUTS = [(b"a", 5), (b"b", 7), (b"a", 1), (b"c", 2), (b"a", 10), (b"b", 3)]
"""Key a: 5, 1, 10; key b: 7, 3; key c: 2."""


def _oracle() -> aggregate.Oracle:
    return aggregate.Oracle.of(INPUTS)


def _exact() -> list[tuple[bytes | None, bytes | None]]:
    """What a correct system writes for INPUTS, in input order."""
    totals: dict[bytes, dict[str, int]] = {}
    out: list[tuple[bytes | None, bytes | None]] = []
    for key, amount in INPUTS:
        totals[key] = work.aggregate_step(totals.get(key), {"amount": amount})
        out.append((key, orjson.dumps(totals[key])))
    return out


def _value(count: int, total: int) -> bytes:
    return orjson.dumps({"count": count, "sum": total})


def test_the_oracle_holds_each_keys_running_sums() -> None:
    oracle = _oracle()
    assert oracle.records == 6 and oracle.keys == 3
    assert oracle.prefix == {b"a": [5, 6, 16], b"b": [7, 10], b"c": [2]}


def test_the_oracle_of_the_harness_input_matches_its_records() -> None:
    oracle = aggregate.Oracle.build(2_000, 50)
    assert oracle.records == 2_000 and oracle.keys == 50
    assert sum(len(sums) for sums in oracle.prefix.values()) == 2_000
    first = work.aggregate_record(0, 0, 50)
    assert first["user"].encode() == work.aggregate_key(0, 50)
    assert isinstance(first["amount"], int)
    assert oracle.prefix[work.aggregate_key(0, 50)][0] == first["amount"]


def test_an_exact_stream_passes() -> None:
    check = aggregate.verify(_exact(), _oracle(), complete=True)
    assert check.ok, check.message()
    assert (check.outputs, check.keys_seen) == (6, 3)
    assert check.message() == ("aggregate outputs exact: 6 outputs for 6 inputs over "
                               "3 of 3 keys")


def test_keys_may_interleave_in_any_order_across_partitions() -> None:
    exact = _exact()
    by_key = sorted(exact, key=lambda pair: pair[0] or b"")  # per key order kept
    assert aggregate.verify(by_key, _oracle(), complete=True).ok


def test_a_missing_output_fails_naming_the_key() -> None:
    outputs = _exact()
    del outputs[2]  # a's second output
    check = aggregate.verify(outputs, _oracle(), complete=True)
    assert not check.ok and check.missing == 1 and check.last_mismatch == 0
    assert "1 missing" in check.message()
    assert "key a: 1 of its 3 outputs missing" in check.message()


def test_a_missing_last_output_is_also_a_wrong_total() -> None:
    outputs = _exact()
    del outputs[4]  # a's last output
    check = aggregate.verify(outputs, _oracle(), complete=True)
    assert check.missing == 1 and check.last_mismatch == 1
    assert "key a: last output (2, 6), expected (3, 16)" in check.message()


def test_a_duplicate_output_fails_as_a_duplicate() -> None:
    outputs = _exact()
    outputs.insert(3, outputs[2])  # a replay of a's second output
    check = aggregate.verify(outputs, _oracle(), complete=True)
    assert not check.ok and check.duplicates == 1 and check.missing == 0
    assert check.outputs == 7
    assert "1 duplicates" in check.message() and "key a: count 2 written again" in (
        check.message())


def test_a_wrong_sum_fails_with_the_expected_value() -> None:
    outputs = _exact()
    outputs[4] = (b"a", _value(3, 15))
    check = aggregate.verify(outputs, _oracle(), complete=True)
    assert check.wrong == 1
    assert "key a count 3: sum 15, expected 16" in check.message()


def test_a_stale_read_within_a_batch_is_caught() -> None:
    """A system that reads a key's total from before the batch (not its own write)
    writes count 2 twice and never count 3."""
    outputs = _exact()
    outputs[4] = (b"a", _value(2, 15))
    check = aggregate.verify(outputs, _oracle(), complete=True)
    assert not check.ok
    assert check.duplicates == 1 and check.wrong == 1 and check.missing == 1


def test_unknown_keys_impossible_counts_and_malformed_values_fail() -> None:
    outputs = [*_exact(), (b"zz", _value(1, 1)), (b"c", _value(2, 4)),
               (b"b", b"not json"), (None, _value(1, 1)),
               (b"b", orjson.dumps({"count": "2", "sum": 10}))]
    check = aggregate.verify(outputs, _oracle(), complete=True)
    assert check.unknown_keys == 2 and check.wrong == 1 and check.malformed == 2
    message = check.message()
    assert "output under key 'zz', which no input had" in message
    assert "key c: count 2, but the key has 1 records" in message


def test_a_run_stopped_early_checks_what_came_and_its_gaps_only() -> None:
    outputs = _exact()[:3]  # stopped after three inputs: a1, b1, a2
    check = aggregate.verify(outputs, _oracle(), complete=False)
    assert check.ok, check.message()
    assert "run stopped early" in check.message()
    gapped = [outputs[0], outputs[1], (b"a", _value(3, 16))]
    check = aggregate.verify(gapped, _oracle(), complete=False)
    assert check.missing == 1 and "below count 3" in check.message()


def _aggregate_run(rep: int, rate: float, ok: bool) -> RunResult:
    check = aggregate.AggregateCheck(100, 10, True, outputs=100 if ok else 101,
                                     duplicates=0 if ok else 1)
    return RunResult("slither-eos", "aggregate", rep, 100, received=100, rate=rate,
                     error=None if ok else check.message(),
                     extra={"aggregate": check.as_dict()})


def test_an_inexact_run_keeps_its_rate_and_the_summary_says_not_exact() -> None:
    summary = report.summarize("aggregate", "slither-eos",
                               [_aggregate_run(0, 10.0, True), _aggregate_run(1, 30.0, False)])
    assert summary.median == 20.0 and summary.exact is False
    assert summary.note.startswith("outputs NOT exact in 1 of 2 runs: aggregate outputs "
                                   "NOT exact: 1 duplicates")
    exact = report.summarize("aggregate", "slither-eos", [_aggregate_run(0, 10.0, True)])
    assert exact.exact is True and exact.note == "outputs exact in 1 of 1 runs"


def test_issue22_goals_give_ratios_per_repetition() -> None:
    def runs(system: str, rates: list[float]) -> report.Summary:
        return report.summarize("aggregate", system, [
            RunResult(system, "aggregate", rep, 100, received=100, rate=rate,
                      extra={"aggregate": aggregate.AggregateCheck(100, 10, True).as_dict()})
            for rep, rate in enumerate(rates)])

    lines = report.goals([runs("slither", [10.0, 20.0, 30.0]),
                          runs("kstreams", [20.0, 20.0, 20.0])])
    assert ("issue 22: aggregate slither / kstreams: 1.00x (goal >= 1x) met; per "
            "repetition 0.50x, 1.00x, 1.50x") in lines
    assert "issue 22: aggregate slither outputs exact: met (outputs exact in 3 of 3 runs)" \
        in lines
    assert "issue 22: aggregate slither-eos / kstreams-eos: not measured" in lines


def test_latency_goal_allows_the_commit_interval_plus_twice_the_alos_p99() -> None:
    def run(system: str, rep: int, p99: float) -> RunResult:
        return RunResult(system, "latency", rep, 100, received=100, rate=1.0,
                         extra={"p99_ms": p99})

    alos = [run("slither", rep, p99) for rep, p99 in enumerate([10.0, 20.0, 90.0])]
    met = report.latency_goal([*alos, run("slither-eos", 0, 140.0)])
    assert met.endswith("140.0 ms (goal <= 100 + 2 x 20.0 = 140.0 ms) met"), met
    missed = report.latency_goal([*alos, run("slither-eos", 0, 140.5)])
    assert missed.endswith("MISSED"), missed
    assert report.latency_goal(alos).endswith("not measured")


def test_kstreams_systems_launch_the_jvm_peer_through_its_launcher() -> None:
    systems = all_systems()
    for name, guarantee in (("kstreams", "at_least_once"), ("kstreams-eos", "exactly_once_v2")):
        system = systems[name]
        argv = system.argv()
        assert argv[:2] == [sys.executable, str(PEERS / "kstreams_app.py")]
        assert argv[2:] == ["--guarantee", guarantee]
        assert system.settings.startswith(f"{guarantee}; Kafka Streams 4.1.1")
        assert system.prepare == (sys.executable, str(PEERS / "kstreams_app.py"), "--build")
        for case in ("passthrough", "router", "aggregate"):
            assert case not in system.unsupported
        assert set(system.unsupported) == {"compute", "lookup", "restore", "latency",
                                           "backlog"}


def test_the_launcher_passes_every_argument_to_the_jvm() -> None:
    options = cli.parse(["--case", "aggregate", "--bootstrap", "h:1", "--input", "in",
                         "--outputs", "out", "--group", "g", "--state-dir", "/tmp/s"])
    jar = Path("/x/app.jar")
    command = kstreams_app.java_command(jar, options, "exactly_once_v2")
    assert command[0].endswith("java")
    jar_at = command.index("-jar")
    assert command[jar_at + 1] == str(jar)
    assert "-Xmx512m" in command[:jar_at]
    assert command[jar_at + 2:] == [
        "--case", "aggregate", "--bootstrap", "h:1", "--input", "in", "--outputs", "out",
        "--group", "g", "--state-dir", "/tmp/s", "--partitions", "4",
        "--guarantee", "exactly_once_v2", "--commit-interval-ms", "100"]
    alos = kstreams_app.java_command(jar, options, "at_least_once")
    assert alos[-2:] == ["--commit-interval-ms", "30000"]
    chosen = kstreams_app.java_command(jar, options, "at_least_once", 5000)
    assert chosen[-2:] == ["--commit-interval-ms", "5000"]


def test_the_launcher_refuses_a_case_it_does_not_do(capsys: pytest.CaptureFixture[str],
                                                    ) -> None:
    with pytest.raises(SystemExit, match="Kafka Streams does passthrough, router, "
                                         "aggregate, not 'compute'"):
        kstreams_app.main(["--case", "compute", "--bootstrap", "h:1", "--input", "in",
                           "--outputs", "out", "--group", "g"])


def test_the_jar_is_rebuilt_when_a_source_changes(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    project = tmp_path / "kstreams"
    source = project / "src" / "main" / "java" / "App.java"
    source.parent.mkdir(parents=True)
    (project / "pom.xml").write_text("<project/>")
    source.write_text("class App {}")
    jar = tmp_path / "cache" / "app.jar"
    stamp = tmp_path / "cache" / "stamp"
    jar.parent.mkdir()
    monkeypatch.setattr(kstreams_app, "PROJECT", project)
    monkeypatch.setattr(kstreams_app, "JAR", jar)
    monkeypatch.setattr(kstreams_app, "STAMP", stamp)
    assert not kstreams_app.is_current()  # no jar
    jar.write_bytes(b"jar")
    stamp.write_text(kstreams_app.fingerprint() + "\n")
    assert kstreams_app.is_current()
    source.write_text("class App { int x; }")
    assert not kstreams_app.is_current()


def test_maven_runs_offline_first_then_online() -> None:
    offline = kstreams_app.maven_command(offline=True)
    online = kstreams_app.maven_command(offline=False)
    assert "-o" in offline and "-o" not in online
    assert f"-Dkstreams.build.dir={kstreams_app.CACHE / 'target'}" in online
    assert online[-1] == "package"


def test_tuning_variants_pass_kafka_streams_properties_through() -> None:
    variant = all_systems()["kstreams-pdef"]
    assert not variant.in_default
    assert variant.argv()[2:] == ["--guarantee", "at_least_once",
                                  "--config", "producer.compression.type=",
                                  "--config", "producer.linger.ms=",
                                  "--config", "producer.batch.size="]
    options = cli.parse(["--case", "router", "--bootstrap", "h:1", "--input", "in",
                         "--outputs", "a,b,c", "--group", "g"])
    command = kstreams_app.java_command(Path("j.jar"), options, "at_least_once",
                                        config=("num.stream.threads=2",))
    assert command[-2:] == ["--config", "num.stream.threads=2"]
    assert command[command.index("--outputs") + 1] == "a,b,c"
