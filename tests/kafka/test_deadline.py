"""call_with_deadline: the bound put around librdkafka calls that ignore their timeout."""

from __future__ import annotations

import threading

import pytest

from slither_stream.log.kafka._deadline import CallAbandonedError, call_with_deadline


def test_returns_the_result_of_a_call_that_finishes_in_time() -> None:
    closed: list[str] = []
    assert call_with_deadline(lambda: 42, 5.0, name="t-ok",
                              after_abandoned=lambda: closed.append("x")) == 42
    assert closed == []


def test_reraises_what_the_call_raised() -> None:
    def fail() -> None:
        raise KeyError("boom")

    with pytest.raises(KeyError, match="boom"):
        call_with_deadline(fail, 5.0, name="t-raise", after_abandoned=lambda: None)


def test_abandons_a_blocked_call_and_cleans_up_when_it_returns_late() -> None:
    release = threading.Event()
    cleaned = threading.Event()

    def blocked() -> str:
        release.wait(30)
        return "late"

    with pytest.raises(CallAbandonedError, match=r"t-hung did not return within 0\.2s"):
        call_with_deadline(blocked, 0.2, name="t-hung", after_abandoned=cleaned.set)
    assert not cleaned.is_set()  # still blocked: the client is not closed under it
    assert any(t.name == "t-hung" for t in threading.enumerate())
    release.set()
    assert cleaned.wait(10), "after_abandoned did not run once the call returned"
