"""The store control protocol (``slither reload`` -> owner) on both backends, in process.

On the embedded log the listener and the requester share one Log (one opener); on
Kafka they would be different processes, which ``tests/cli/test_stores_cli.py``
covers end to end.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from slither_stream.errors import StoreError
from slither_stream.log import Log
from slither_stream.store import Store, StoreApp, TableSpec
from slither_stream.store.control import ControlListener, control_topic, request_reload

SOURCE: dict[str, int] = {}


class Counters(Store):
    name = "counters"

    def tables(self) -> Sequence[TableSpec]:
        return [TableSpec("c", key="string")]

    def load(self, tables: Mapping[str, Any]) -> None:
        tables["c"].bulk_insert(dict(SOURCE))


def test_reload_requests_are_answered(log: Log, tmp_path: Path,
                                      unique_name: Callable[[str], str]) -> None:
    app = unique_name("ctl").replace("-", "_")
    SOURCE.clear()
    SOURCE.update(a=1)
    with StoreApp([Counters], log=log, app=app, data_dir=tmp_path) as stores, \
            ControlListener(log, app, stores.stores):
        table = stores["counters"].table("c")
        assert dict(table.items()) == {"a": 1}
        SOURCE.update(a=2, b=3)
        # a malformed request is skipped; the next one is still answered
        log.producer().send(control_topic(app), b"not json")
        reply = request_reload(log, app, "counters", "load", timeout=30)
        assert reply["ok"] is True and reply["store"] == "counters"
        assert reply["generation"] == stores["counters"].owner.current.number
        assert dict(table.items()) == {"a": 2, "b": 3}

        missing = request_reload(log, app, "nope", None, timeout=30)
        assert missing["ok"] is False and "no store 'nope'" in missing["error"]
        assert "counters" in missing["error"]
        bad_source = request_reload(log, app, "counters", "disk", timeout=30)
        assert bad_source["ok"] is False and "'disk'" in bad_source["error"]


def test_no_owner_means_a_clear_timeout(log: Log, unique_name: Callable[[str], str]) -> None:
    app = unique_name("ctl-none").replace("-", "_")
    with pytest.raises(StoreError, match=r"no owner of store 'counters'.*within 0.5s"):
        request_reload(log, app, "counters", None, timeout=0.5)
