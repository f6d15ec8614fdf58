"""Table declarations fail at construction with a message naming the field."""

from __future__ import annotations

from typing import Any

import pytest

from slither_stream.errors import ConfigError
from slither_stream.store import Store, TableSpec
from slither_stream.store.spec import check_name


@pytest.mark.parametrize(("fields", "message"), [
    ({"name": "a.b"}, "bad table name 'a.b'"),
    ({"name": "t", "type": "bag"}, "type must be 'set' or 'ordered_set'"),
    ({"name": "t", "compression": "brotli"}, "compression must be one of"),
    ({"name": "t", "partitions": 0}, "partitions must be a positive int"),
    ({"name": "t", "type": "ordered_set", "key": "json"}, "needs an order-preserving key"),
    ({"name": "t", "key": "uuid"}, "unknown key codec 'uuid'"),
    ({"name": "t", "value": "yaml"}, "unknown serde 'yaml'"),
])
def test_bad_table_declarations(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        TableSpec(**fields)


def test_value_serdes_resolve_through_the_serde_package() -> None:
    assert TableSpec("t", value="bytes").value_codec.decode(b"\x00") == b"\x00"
    assert TableSpec("t", value="string").value_codec.encode("é") == "é".encode()


def test_store_and_app_names() -> None:
    class FeatureStore(Store):
        pass

    assert FeatureStore.store_name() == "feature_store"
    assert check_name("app", "fraud.prod") == "fraud.prod"
    with pytest.raises(ConfigError, match=r"bad app name '\.\./x'"):
        check_name("app", "../x")
