"""serde_for: config strings to serdes, with errors that list the valid choices."""

from __future__ import annotations

from pathlib import Path

import pytest

from slither_stream.errors import ConfigError
from slither_stream.serde import (
    AvroSerde,
    JsonSerde,
    RawSerde,
    SchemaRegistry,
    StringSerde,
    serde_for,
)
from tests.serde.conftest import SCHEMAS_DIR


@pytest.mark.parametrize(("spec", "kind"), [
    ("json", JsonSerde), ("raw", RawSerde), ("string", StringSerde), (" JSON ", JsonSerde),
])
def test_simple_names(spec: str, kind: type) -> None:
    assert isinstance(serde_for(spec), kind)


def test_avro_specs(registry: SchemaRegistry) -> None:
    framed = serde_for("avro:slither.examples.Transaction", registry=registry)
    assert isinstance(framed, AvroSerde) and framed.framing
    assert framed.name == "avro:slither.examples.Transaction"
    bare = serde_for("avro-bare:Transaction", registry=registry)
    assert isinstance(bare, AvroSerde) and not bare.framing
    # a serde's name is a spec that gives the same serde back
    assert serde_for(framed.name, registry=registry).name == framed.name
    assert serde_for(bare.name, registry=registry).name == bare.name


def test_default_registry_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch,
                                                    tmp_path: Path) -> None:
    monkeypatch.setenv("SLITHER_SCHEMAS", str(SCHEMAS_DIR))
    assert serde_for("avro:Transaction").name == "avro:slither.examples.Transaction"
    monkeypatch.setenv("SLITHER_SCHEMAS", str(tmp_path / "missing"))
    with pytest.raises(ConfigError, match="missing does not exist"):
        serde_for("avro:Transaction")


def test_serde_instances_pass_through() -> None:
    serde = JsonSerde(sort_keys=True)
    assert serde_for(serde) is serde


@pytest.mark.parametrize(("spec", "match"), [
    ("jsn", "unknown serde 'jsn'; valid: json, raw, string, avro:<schema full name>, "
            "avro-bare:<schema full name>"),
    ("avro:", "needs a schema name"),
    ("avro:Nope", "unknown schema 'Nope'; known schemas: slither.Envelope"),
    ("protobuf:X", "unknown serde 'protobuf:X'; valid: json"),
])
def test_bad_specs(registry: SchemaRegistry, spec: str, match: str) -> None:
    with pytest.raises(ConfigError) as caught:
        serde_for(spec, registry=registry)
    assert match in str(caught.value)


def test_non_serde_object_is_refused() -> None:
    with pytest.raises(ConfigError, match="a serde must be a name or a Serde, got int"):
        serde_for(5)  # type: ignore[arg-type]
