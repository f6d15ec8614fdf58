"""Run a blocking librdkafka call with a deadline librdkafka itself does not keep.

``rd_kafka_send_offsets_to_transaction()`` can block far past its timeout, and
forever, when the group coordinator went away: its coordinator-request timeout is
never checked (librdkafka issues #5456 and #5511, open in 2.16). The reliability
suite's broker crash hit it: every exactly_once stage whose transaction was adding
offsets when the broker died sat in that call after the broker was back, and the
pipe stalled without a log line.

A blocked C call cannot be interrupted, so the call runs on its own named daemon
thread and the caller waits for it with a deadline. If the deadline passes, the
caller gets :class:`CallAbandonedError` and stops using the client; the thread keeps
the client and, should the call ever return, runs ``after_abandoned`` (which closes
the client). The thread's owner is the call: it ends when the call returns, and a
thread stuck in librdkafka for good dies with the process (daemon).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class CallAbandonedError(Exception):
    """The call did not return before its deadline; it was left running."""


def call_with_deadline(call: Callable[[], T], deadline_s: float, *, name: str,
                       after_abandoned: Callable[[], None]) -> T:
    """Return ``call()`` (or raise what it raised) if it finishes within
    ``deadline_s`` seconds; otherwise raise :class:`CallAbandonedError`."""
    lock = threading.Lock()
    finished = threading.Event()
    abandoned = [False]
    outcome: list[tuple[bool, object]] = []

    def run() -> None:
        try:
            result: tuple[bool, object] = (True, call())
        except BaseException as error:  # handed to the caller, who re-raises it
            result = (False, error)
        with lock:
            outcome.append(result)
            finished.set()
            late = abandoned[0]
        if late:
            after_abandoned()

    thread = threading.Thread(target=run, name=name, daemon=True)
    thread.start()
    if not finished.wait(deadline_s):
        with lock:
            if not finished.is_set():
                abandoned[0] = True
                raise CallAbandonedError(f"{name} did not return within {deadline_s:g}s")
    thread.join()
    ok, value = outcome[0]
    if ok:
        return value  # type: ignore[return-value]  # call()'s own result
    assert isinstance(value, BaseException)
    raise value
