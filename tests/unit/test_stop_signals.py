"""StopSignals: SIGTERM/SIGINT become calls on a thread of their own, whichever
thread the kernel handed the signal to."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import threading

from slither_stream.stop_signals import StopSignals

# The main thread blocks in C (Event.wait() without a timeout) before a signal
# lands on another thread. A plain Python handler would never run (only the main
# thread runs them, and it is not running bytecode); the script would hang.
_SIGNAL_ON_ANOTHER_THREAD = textwrap.dedent("""
    import signal, threading, time
    from slither_stream.stop_signals import StopSignals

    stopped = threading.Event()
    calls = []

    def on_signal(signum):
        calls.append((signum, threading.current_thread().name))
        stopped.set()

    def sender():
        time.sleep(0.3)  # the main thread is blocked by now
        signal.pthread_kill(threading.get_ident(), signal.SIGTERM)

    with StopSignals(on_signal):
        threading.Thread(target=sender, name="sender").start()
        stopped.wait()
    print(calls)
""")


def test_signal_landing_on_another_thread_wakes_a_blocked_main_thread() -> None:
    done = subprocess.run([sys.executable, "-c", _SIGNAL_ON_ANOTHER_THREAD],
                          check=False, capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"[({int(signal.SIGTERM)}, 'slither-stop-signals')]"


def test_callback_runs_off_the_main_thread_while_it_holds_a_lock_the_callback_needs(
) -> None:
    """A handler that took this lock in the main thread would deadlock there."""
    lock = threading.Lock()
    called = threading.Event()
    names: list[str] = []

    def on_signal(_signum: int) -> None:
        with lock:
            names.append(threading.current_thread().name)
            called.set()

    with StopSignals(on_signal, signals=[signal.SIGUSR2]):
        with lock:
            signal.raise_signal(signal.SIGUSR2)
            assert not called.wait(0.3)  # waiting for the lock this thread holds
        assert called.wait(10)
    assert names == ["slither-stop-signals"]


def test_every_signal_is_a_call_and_a_failing_callback_does_not_end_them() -> None:
    seen = threading.Semaphore(0)
    calls: list[int] = []

    def on_signal(signum: int) -> None:
        calls.append(signum)
        seen.release()
        if len(calls) == 1:
            raise RuntimeError("the first call fails")

    with StopSignals(on_signal, signals=[signal.SIGUSR1, signal.SIGUSR2]):
        for signum in (signal.SIGUSR2, signal.SIGUSR1, signal.SIGUSR2):
            signal.raise_signal(signum)
            assert seen.acquire(timeout=10)
    assert calls == [signal.SIGUSR2, signal.SIGUSR1, signal.SIGUSR2]


def test_other_signals_with_python_handlers_are_not_calls() -> None:
    """The wakeup fd carries every signal that has a Python-level handler."""
    seen = threading.Semaphore(0)
    calls: list[int] = []
    others: list[int] = []
    previous = signal.signal(signal.SIGUSR1, lambda signum, _frame: others.append(signum))
    try:
        def on_signal(signum: int) -> None:
            calls.append(signum)
            seen.release()

        with StopSignals(on_signal, signals=[signal.SIGUSR2]):
            signal.raise_signal(signal.SIGUSR1)
            signal.raise_signal(signal.SIGUSR2)
            assert seen.acquire(timeout=10)
    finally:
        signal.signal(signal.SIGUSR1, previous)
    assert calls == [signal.SIGUSR2]
    assert others == [signal.SIGUSR1]  # its own handler still ran


def test_leaving_restores_the_previous_handlers_and_wakeup_fd() -> None:
    def mine(_signum: int, _frame: object) -> None:
        pass

    before = signal.signal(signal.SIGUSR2, mine)
    wakeup_fd_before = signal.set_wakeup_fd(-1)
    signal.set_wakeup_fd(wakeup_fd_before)
    try:
        with StopSignals(lambda _signum: None, signals=[signal.SIGUSR2]) as stop:
            assert signal.getsignal(signal.SIGUSR2) is not mine
            ours = signal.set_wakeup_fd(-1)
            signal.set_wakeup_fd(ours)
            assert ours not in (-1, wakeup_fd_before)
            assert stop._thread is not None and stop._thread.is_alive()
        assert signal.getsignal(signal.SIGUSR2) is mine
        assert signal.set_wakeup_fd(wakeup_fd_before) == wakeup_fd_before
        assert not any(t.name == "slither-stop-signals" for t in threading.enumerate())
    finally:
        signal.signal(signal.SIGUSR2, before)
