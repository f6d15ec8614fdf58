from __future__ import annotations

from collections.abc import Iterator

import pytest

from slither_stream import telemetry

Seen = list[tuple[tuple[str, ...], dict[str, float], dict[str, object]]]


@pytest.fixture
def seen() -> Iterator[Seen]:
    events: Seen = []
    telemetry.attach_many(
        "test-recorder",
        [("t", "op", "start"), ("t", "op", "stop"), ("t", "op", "exception"), ("t", "x")],
        lambda event, measurements, metadata: events.append((event, measurements, metadata)),
    )
    yield events
    telemetry.detach("test-recorder")


def test_execute_reaches_attached_handler_only(seen: Seen) -> None:
    telemetry.execute(("t", "x"), {"count": 3}, {"store": "s"})
    telemetry.execute(("t", "unrelated"), {"count": 1}, {})
    assert seen == [(("t", "x"), {"count": 3}, {"store": "s"})]


def test_detach_stops_delivery(seen: Seen) -> None:
    assert telemetry.detach("test-recorder") is True
    telemetry.execute(("t", "x"), {"count": 1}, {})
    assert seen == []
    assert telemetry.detach("test-recorder") is False


def test_span_emits_start_and_stop_with_duration_and_added_metadata(seen: Seen) -> None:
    with telemetry.span(("t", "op"), {"pipe": "p"}) as meta:
        meta["result_count"] = 7
    names = [event for event, _, _ in seen]
    assert names == [("t", "op", "start"), ("t", "op", "stop")]
    assert "system_time" in seen[0][1]
    assert seen[1][1]["duration"] >= 0
    assert seen[1][2] == {"pipe": "p", "result_count": 7}


def test_span_emits_exception_and_reraises(seen: Seen) -> None:
    with pytest.raises(RuntimeError, match="boom"), telemetry.span(("t", "op"), {"stage": "s"}):
        raise RuntimeError("boom")
    event, measurements, metadata = seen[-1]
    assert event == ("t", "op", "exception")
    assert measurements["duration"] >= 0
    assert metadata == {"stage": "s", "kind": "RuntimeError", "reason": "boom"}


def test_failing_handler_is_detached_and_does_not_break_the_emitter() -> None:
    calls: list[int] = []

    def broken(*_: object) -> None:
        calls.append(1)
        raise ValueError("handler bug")

    telemetry.attach("broken", ("t", "broken"), broken)
    telemetry.execute(("t", "broken"), {}, {})
    telemetry.execute(("t", "broken"), {}, {})
    assert calls == [1]
    assert not telemetry.has_handlers(("t", "broken"))
