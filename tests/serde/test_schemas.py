"""SchemaRegistry: loading a directory, lookup by name and id, and refusals."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from slither_stream.errors import ConfigError
from slither_stream.serde import AvroSchema, SchemaRegistry, schema_id_for
from tests.serde.conftest import ORDER_SCHEMA, SCHEMAS_DIR

EXAMPLE_FIELDS = ["txn_id", "user_id", "amount", "hour"]


def test_project_schemas_load(registry: SchemaRegistry) -> None:
    assert registry.names() == [
        "slither.Envelope",
        "slither.examples.ScoredTransaction",
        "slither.examples.Transaction",
    ]
    txn = registry.get("slither.examples.Transaction")
    assert [f["name"] for f in txn.parsed["fields"]] == EXAMPLE_FIELDS
    scored = registry.get("slither.examples.ScoredTransaction")
    assert [f["name"] for f in scored.parsed["fields"]] == [
        *EXAMPLE_FIELDS, "account_age_days", "avg_amount", "chargebacks", "country_risk",
        "fraud_probability"]
    assert txn.source is not None and txn.source.endswith("slither.examples.Transaction.avsc")


def test_lookup_by_unique_short_name(registry: SchemaRegistry) -> None:
    assert registry.get("Transaction") is registry.get("slither.examples.Transaction")
    assert "slither.examples.Transaction" in registry
    assert len(registry) == 3


def test_unknown_name_lists_the_known_ones(registry: SchemaRegistry) -> None:
    with pytest.raises(ConfigError, match=r"unknown schema 'Txn'; known schemas: slither\.Env"):
        registry.get("Txn")


def test_ambiguous_short_name_is_refused() -> None:
    reg = SchemaRegistry()
    reg.register({"type": "enum", "name": "a.Color", "symbols": ["R"]})
    reg.register({"type": "enum", "name": "b.Color", "symbols": ["G"]})
    with pytest.raises(ConfigError, match="'Color' is ambiguous"):
        reg.get("Color")


def test_ids_are_deterministic_fingerprints(registry: SchemaRegistry) -> None:
    for schema in registry:
        assert schema.schema_id == schema_id_for(schema.canonical)
        assert registry.by_id(schema.schema_id) is schema
        assert 0 <= schema.schema_id < 2**31
    # the same file loaded elsewhere gets the same id
    again = SchemaRegistry.load(SCHEMAS_DIR)
    assert again.ids() == registry.ids()


def test_history_subdirectory_is_found_by_id_only(tmp_path: Path) -> None:
    shutil.copy(SCHEMAS_DIR / "slither.examples.Transaction.avsc", tmp_path)
    old = json.loads((SCHEMAS_DIR / "slither.examples.Transaction.avsc").read_text())
    old["fields"] = old["fields"][:-1]  # v1 had no hour
    (tmp_path / "history").mkdir()
    (tmp_path / "history" / "Transaction.v1.avsc").write_text(json.dumps(old))
    reg = SchemaRegistry.load(tmp_path)
    assert reg.names() == ["slither.examples.Transaction"]
    v1 = AvroSchema.parse(old)
    found = reg.by_id(v1.schema_id)
    assert found is not None and found.canonical == v1.canonical
    assert reg.get("Transaction").schema_id != v1.schema_id


def test_two_current_versions_of_a_name_are_refused(tmp_path: Path) -> None:
    (tmp_path / "a.avsc").write_text(json.dumps(ORDER_SCHEMA))
    changed = json.loads(json.dumps(ORDER_SCHEMA))
    changed["fields"] = changed["fields"][:2]
    (tmp_path / "b.avsc").write_text(json.dumps(changed))
    with pytest.raises(ConfigError, match=r"two current schemas are named slither\.test\.Order"):
        SchemaRegistry.load(tmp_path)


@pytest.mark.parametrize(("content", "match"), [
    ("{not json", "is not valid JSON"),
    ('{"type": "record", "name": "X", "fields": [{"name": "a", "type": "Nope"}]}',
     "is not a valid Avro schema: Nope"),
    ('"string"', "a registry holds named types"),
])
def test_bad_files_are_named(tmp_path: Path, content: str, match: str) -> None:
    bad = tmp_path / "bad.avsc"
    bad.write_text(content)
    with pytest.raises(ConfigError, match=match) as caught:
        SchemaRegistry.load(tmp_path)
    assert str(bad) in str(caught.value)


def test_missing_directory_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        SchemaRegistry.load(tmp_path / "nowhere")


def test_pinned_id_and_collisions() -> None:
    reg = SchemaRegistry()
    pinned = reg.register(ORDER_SCHEMA, schema_id=7)
    assert pinned.schema_id == 7 and reg.by_id(7) is pinned
    with pytest.raises(ConfigError, match=r"schema id 7 of a\.Color .* already taken"):
        reg.register({"type": "enum", "name": "a.Color", "symbols": ["R"]}, schema_id=7)
