"""The supervisor's restart intensity: at most N restarts within T seconds."""

from __future__ import annotations

import pytest

from slither_stream.errors import ConfigError
from slither_stream.pipe.deploy.restarts import RestartWindow
from slither_stream.pipe.deploy.supervisor import Supervisor
from slither_stream.pipe.deploy.worker_process import WorkerSpec


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_gives_up_on_one_restart_too_many_within_the_window() -> None:
    clock = Clock()
    window = RestartWindow(3, 10.0, clock=clock)
    assert [window.allow() for _ in range(3)] == [True, True, True]
    clock.now += 9.9
    assert not window.allow()
    assert window.recent == 3


def test_old_restarts_leave_the_window() -> None:
    """A lifetime count would refuse the 4th restart below; the window does not."""
    clock = Clock()
    window = RestartWindow(3, 10.0, clock=clock)
    for _ in range(3):
        assert window.allow()
        clock.now += 4.0  # restarts at 0, 4, 8
    # now 12: the restart at 0 has left the window, the ones at 4 and 8 have not
    assert window.allow()
    assert window.recent == 3
    assert not window.allow()
    clock.now += 100.0
    assert all(window.allow() for _ in range(3))


def test_zero_restarts_means_never_restart() -> None:
    assert not RestartWindow(0, 60.0, clock=Clock()).allow()


@pytest.mark.parametrize(("restarts", "seconds", "named"), [
    (-1, 60.0, "max_restarts"), (True, 60.0, "max_restarts"), (2.5, 60.0, "max_restarts"),
    (3, 0, "max_seconds"), (3, -5.0, "max_seconds"), (3, "60", "max_seconds"),
])
def test_bad_limits_are_refused_naming_the_setting(restarts: object, seconds: object,
                                                   named: str) -> None:
    with pytest.raises(ConfigError, match=named):
        RestartWindow(restarts, seconds)  # type: ignore[arg-type]


def test_the_supervisor_takes_its_window_from_its_arguments() -> None:
    spec = WorkerSpec(topology="t.py", log_url="kafka://127.0.0.1:9092")
    supervisor = Supervisor(spec, processes=2, max_restarts=4, max_seconds=30.0)
    assert (supervisor.window.max_restarts, supervisor.window.max_seconds) == (4, 30.0)
    with pytest.raises(ConfigError, match="max_seconds"):
        Supervisor(spec, max_seconds=0)
