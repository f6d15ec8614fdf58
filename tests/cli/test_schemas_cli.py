"""``slither schemas register | check | list | diff`` against the real registry, and the
operator commands in registry mode (``describe``, ``produce``, ``consume``)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from confluent_kafka.schema_registry import Schema

from slither_stream.log import TopicSpec, open_log
from slither_stream.serde import RegistryClient, RegistryConfig
from tests.cli.helpers import assert_one_line_error, json_lines, slither
from tests.e2e.helpers import read_topic

pytestmark = pytest.mark.registry

Names = Callable[[str], str]
SECRET = "cli-s3cret"

TXN = {"type": "record", "name": "Txn", "namespace": "cli", "fields": [
    {"name": "txn_id", "type": "string"}, {"name": "amount", "type": "double"}]}
SCORED = {"type": "record", "name": "Scored", "namespace": "cli", "fields": [
    {"name": "txn_id", "type": "string"}, {"name": "risk", "type": "double"}]}
SCORED_COMPATIBLE = {**SCORED, "fields": [
    *SCORED["fields"], {"name": "model", "type": "string", "default": "m1"}]}
SCORED_BROKEN = {**SCORED, "fields": [
    {"name": "txn_id", "type": "string"}, {"name": "risk", "type": "string"}]}

TOPOLOGY = '''
from pathlib import Path
from slither_stream.pipe import Pipe

pipe = Pipe("{name}", partitions=1, input_serde="avro:cli.Txn",
            schemas=Path(__file__).parent / "schemas")
pipe.local("score", lambda item, ctx: {{"txn_id": item.payload["txn_id"], "risk": 0.5}})
pipe.outputs("scored", serde="avro:cli.Scored")
'''


def write_topology(root: Path, name: str, scored: dict[str, object]) -> Path:
    (root / "schemas").mkdir(parents=True, exist_ok=True)
    (root / "schemas" / "cli.Txn.avsc").write_text(json.dumps(TXN))
    (root / "schemas" / "cli.Scored.avsc").write_text(json.dumps(scored))
    path = root / f"{name.replace('-', '_')}_topology.py"
    path.write_text(TOPOLOGY.format(name=name))
    return path


def test_register_check_list_diff(tmp_path: Path, registry_config: RegistryConfig,
                                  unique_name: Names) -> None:
    name = unique_name("cli")
    topology = str(write_topology(tmp_path, name, SCORED))
    env = {"SLITHER_SCHEMA_REGISTRY": registry_config.url}
    subjects = (f"{name}.score.in-value", f"{name}.out.scored-value")

    checked = slither("schemas", "check", topology, env=env)
    assert checked.returncode == 0, checked.stderr
    assert f"{subjects[0]}: new subject (no versions yet) (input {name}.score.in)" in checked.stdout

    registered = slither("schemas", "register", topology, env=env)
    assert registered.returncode == 0, registered.stderr
    assert f"{subjects[1]}: id " in registered.stdout and "version 1" in registered.stdout

    listed = slither("schemas", "list", env=env)
    assert listed.returncode == 0, listed.stderr
    assert all(f"{subject}\tversion 1\tid " in listed.stdout for subject in subjects)
    versions = slither("schemas", "list", subjects[1], "nope-value", env=env)
    assert versions.returncode == 1
    assert f"{subjects[1]}\tversion 1\tid " in versions.stdout
    assert "no such subject" in versions.stderr and "nope-value" in versions.stderr

    same = slither("schemas", "diff", topology, env=env)
    assert same.returncode == 0, same.stdout + same.stderr
    assert f"{subjects[1]}: same as version 1" in same.stdout

    # An incompatible change: check refuses it naming subject, version and field.
    write_topology(tmp_path, name, SCORED_BROKEN)
    refused = slither("schemas", "check", topology, env=env)
    assert refused.returncode == 1, refused.stdout
    assert (f"{subjects[1]}: INCOMPATIBLE with version 1: field 'risk': writer type double "
            f"cannot be read as string") in refused.stdout
    assert_one_line_error(refused, 1, "1 incompatible schema(s)", subjects[1])
    differs = slither("schemas", "diff", topology, env=env)
    assert differs.returncode == 1
    assert '-      "type": "double"' in differs.stdout
    assert '+      "type": "string"' in differs.stdout
    not_registered = slither("schemas", "register", topology, env=env)
    assert not_registered.returncode == 1
    assert f"{subjects[1]}: REFUSED" in not_registered.stdout

    # A compatible change (a new field with a default) passes and registers.
    write_topology(tmp_path, name, SCORED_COMPATIBLE)
    passes = slither("schemas", "check", topology, env=env)
    assert passes.returncode == 0, passes.stdout + passes.stderr
    assert f"{subjects[1]}: compatible with version 1" in passes.stdout
    assert slither("schemas", "register", topology, env=env).returncode == 0
    assert RegistryClient(registry_config).versions(subjects[1]) == [1, 2]


def test_operator_commands_in_registry_mode_never_show_the_secret(
        tmp_path: Path, registry_config: RegistryConfig, unique_name: Names) -> None:
    name = unique_name("clirun")
    topology = str(write_topology(tmp_path, name, SCORED))
    url = registry_config.url
    env = {"SLITHER_SCHEMA_REGISTRY": url.replace("://", f"://ops:{SECRET}@")}
    described = slither("describe", topology, "--format", "json", env=env)
    assert described.returncode == 0, described.stderr
    registry = json_lines(described.stdout)[0]["schema_registry"]
    assert registry == {"url": url, "auth": "basic (user ops)", "tls": False,
                        "subject_strategy": "topic", "auto_register": False}
    assert SECRET not in described.stdout

    # produce encodes with the registry id of the input's subject (registered first).
    client = RegistryClient(registry_config)
    schema_id = client.register(f"{name}.score.in-value", Schema(json.dumps(TXN), "AVRO"))
    source = tmp_path / "txns.jsonl"
    source.write_text('{"txn_id": "t1", "amount": 2.5}\n')
    log = f"embedded://{tmp_path / 'log'}"
    with open_log(log) as opened:
        opened.create_topics([TopicSpec(f"{name}.score.in", 1)])
    plain_env = {"SLITHER_SCHEMA_REGISTRY": url}
    produced = slither("produce", f"{name}.score.in", str(source), "--topology", topology,
                       "--log", log, env=plain_env)
    assert produced.returncode == 0, produced.stderr
    consumed = slither("consume", f"{name}.score.in", "--topology", topology, "--log", log,
                       "--limit", "1", env=plain_env)
    assert consumed.returncode == 0, consumed.stderr
    assert json_lines(consumed.stdout) == [{"txn_id": "t1", "amount": 2.5}]
    with open_log(log) as opened:
        (record,) = read_topic(opened, f"{name}.score.in")
    assert (record.value or b"")[:5] == b"\x00" + schema_id.to_bytes(4, "big")


def test_an_unreachable_registry_is_one_line_naming_it(tmp_path: Path) -> None:
    config = tmp_path / "registry.toml"
    config.write_text(f'url = "http://ops:{SECRET}@127.0.0.1:9/apis/ccompat/v7"\n'
                      'connect_timeout = 1.0\n')
    result = slither("schemas", "list", env={"SLITHER_SCHEMA_REGISTRY_CONFIG": str(config)})
    assert_one_line_error(result, 3, "schema registry http://127.0.0.1:9/apis/ccompat/v7 is "
                                     "unreachable", "Connection refused")
    assert SECRET not in result.stderr
