"""System processes: start with the right interpreter, sample RSS, stop cleanly."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import IO

import psutil

STOP_TIMEOUT_S = 30.0
RSS_INTERVAL_S = 0.1


def _label(process: psutil.Process, root: bool) -> str:
    """A short name for a sampled process: the system's main process, or what a
    child runs (a compute pool worker, a resource tracker, ...)."""
    if root:
        return "main"
    try:
        argv = process.cmdline()
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return process.name()
    if not argv:
        return process.name()
    text = " ".join([Path(argv[0]).name, *argv[1:4]])
    return " ".join(text.split())[:48]  # one line: "-c" code carries newlines


class RssSampler:
    """Peak RSS (bytes) and CPU seconds of a process and all its descendants, sampled
    every 0.1 s (CPU: the last sample, so a child's time counts while it lives).

    A named thread owned by :class:`SystemProcess`; it waits on its stop event
    between samples, so stopping it is immediate.
    """

    def __init__(self, pid: int, name: str) -> None:
        self.pid = pid
        self.peak = 0
        self.cpu_s = 0.0
        self.peaks: dict[int, tuple[str, int]] = {}
        """Per process of the tree: pid -> (what it runs, peak RSS bytes)."""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"bench-rss-{name}",
                                        daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        try:
            root = psutil.Process(self.pid)
            processes = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return
        rss = 0
        cpu = 0.0
        for process in processes:
            try:
                own = process.memory_info().rss
                times = process.cpu_times()
                cpu += times.user + times.system
                if process.pid not in self.peaks:
                    self.peaks[process.pid] = (_label(process, process.pid == self.pid), 0)
            except psutil.NoSuchProcess:
                continue
            rss += own
            label, best = self.peaks[process.pid]
            self.peaks[process.pid] = (label, max(best, own))
        self.peak = max(self.peak, rss)
        self.cpu_s = max(self.cpu_s, cpu)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._sample()
            self._stop.wait(RSS_INTERVAL_S)

    def by_process_mb(self) -> dict[str, float]:
        """Peak RSS in MB of each process the tree had, named ``<pid> <what>``."""
        return {f"{pid} {label}": round(peak / 2**20, 1)
                for pid, (label, peak) in sorted(self.peaks.items())}

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        self._sample()
        return self.peak


class SystemProcess:
    """One run of a system script; output goes to ``log_path``."""

    def __init__(self, argv: list[str], *, name: str, log_path: Path,
                 cwd: Path | None = None, env: dict[str, str] | None = None) -> None:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self.log_path = log_path
        self._log: IO[bytes] = log_path.open("ab")
        self.launched = time.monotonic()
        self.process = subprocess.Popen(
            argv, cwd=cwd, stdout=self._log, stderr=subprocess.STDOUT,
            env={**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1",
                 "MKL_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1", **(env or {})},
            start_new_session=True)
        self.rss = RssSampler(self.process.pid, name)
        self.cpu_s = 0.0

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> tuple[int, int | None]:
        """SIGTERM, wait, SIGKILL the group if needed; return (peak RSS, exit code).

        ``cpu_s`` then holds the CPU seconds the system used up to the stop request."""
        peak = self.rss.stop()  # the peak while running, not while shutting down
        self.cpu_s = self.rss.cpu_s
        if self.alive():
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(STOP_TIMEOUT_S)
        self._log.close()
        return peak, self.process.returncode

    def tail(self, lines: int = 15) -> str:
        """The last lines of the process's output (for error messages)."""
        text = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])
