from __future__ import annotations

from pathlib import Path

import pytest

from slither_stream.errors import ConfigError
from slither_stream.pipe import Pipe
from slither_stream.pipe.deploy.supervisor import Supervisor
from slither_stream.pipe.deploy.worker_process import WorkerSpec
from slither_stream.pipe.loading import load_topology

ROOT = Path(__file__).resolve().parents[2]


def test_load_topology_by_path_module_and_attribute() -> None:
    by_path = load_topology(str(ROOT / "topologies" / "scoring.py"))
    assert isinstance(by_path, Pipe) and by_path.name == "scoring"
    by_module = load_topology("topologies.claims")
    assert by_module.name == "claims"
    named = load_topology(f"{ROOT / 'tests' / 'e2e' / 'worker_topology.py'}:slow_pipe")
    assert named.name == "slow"


def test_load_topology_errors_are_clear(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_topology(str(tmp_path / "missing.py"))
    with pytest.raises(ConfigError, match="cannot import topology module"):
        load_topology("no_such_package_abc.topology")
    several = tmp_path / "several.py"
    several.write_text("from slither_stream.pipe import Pipe\n"
                       "a = Pipe('a')\nb = Pipe('b')\n")
    with pytest.raises(ConfigError, match="exactly one Pipe"):
        load_topology(str(several))
    with pytest.raises(ConfigError, match="no Pipe named 'c'"):
        load_topology(f"{several}:c")


def test_supervisor_refuses_several_processes_on_the_embedded_log() -> None:
    spec = WorkerSpec(topology="topologies/scoring.py", log_url="embedded://.slither")
    with pytest.raises(ConfigError, match="one process at a time"):
        Supervisor(spec, processes=2)
    with pytest.raises(ConfigError, match="processes must be"):
        Supervisor(spec, processes=0)
