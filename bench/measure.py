"""Measure one child process: wall time, its own CPU time (user+sys) and its peak resident memory.

Contract: `run_measured(argv, stdin_path, ...)` starts `argv` with stdin from a file and stdout/stderr to
files, waits for it with `os.wait4` and returns a `Measurement`. CPU and peak RSS come from the kernel's
rusage of that one child (`ru_utime + ru_stime`, `ru_maxrss`), so the emulator and the harness, which run
on the same two cores, are not counted; a psutil poll every 50 ms backs up the peak RSS (the larger wins)
in case the child's own children matter. The child is killed when it exceeds `timeout_s`.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

POLL_INTERVAL_S = 0.05


@dataclass(frozen=True)
class Measurement:
    returncode: int
    wall_s: float
    cpu_s: float
    peak_rss_mb: float
    timed_out: bool
    stdout_path: Path
    stderr_path: Path

    def stderr_tail(self, limit: int = 2000) -> str:
        data = self.stderr_path.read_bytes()
        return data[-limit:].decode("utf-8", "replace")


def _poll_rss(pid: int, stop: threading.Event, peak: list[int]) -> None:
    try:
        proc = psutil.Process(pid)
        while not stop.is_set():
            rss = proc.memory_info().rss
            for child in proc.children(recursive=True):
                try:
                    rss += child.memory_info().rss
                except psutil.Error:
                    pass
            peak[0] = max(peak[0], rss)
            stop.wait(POLL_INTERVAL_S)
    except psutil.Error:
        return


def run_measured(
    argv: list[str],
    stdin_path: Path,
    stdout_path: Path,
    stderr_path: Path,
    timeout_s: float,
    env: dict[str, str] | None = None,
    cwd: str | None = None,
) -> Measurement:
    """Run `argv` to completion and measure it (see the module docstring)."""
    with (
        open(stdin_path, "rb") as stdin,
        open(stdout_path, "wb") as stdout,
        open(stderr_path, "wb") as stderr,
    ):
        started = time.perf_counter()
        proc = subprocess.Popen(argv, stdin=stdin, stdout=stdout, stderr=stderr, env=env, cwd=cwd)
    stop = threading.Event()
    peak = [0]
    poller = threading.Thread(target=_poll_rss, args=(proc.pid, stop, peak), daemon=True)
    poller.start()
    timer = threading.Timer(timeout_s, proc.kill)
    timer.start()
    try:
        _, status, usage = os.wait4(proc.pid, 0)
    finally:
        timer.cancel()
        stop.set()
        poller.join()
    wall = time.perf_counter() - started
    returncode = os.waitstatus_to_exitcode(status)
    proc.returncode = returncode  # reaped by wait4; keep Popen from waiting again
    max_rss = max(usage.ru_maxrss * 1024, peak[0])  # ru_maxrss is in KiB on Linux
    return Measurement(
        returncode=returncode,
        wall_s=wall,
        cpu_s=usage.ru_utime + usage.ru_stime,
        peak_rss_mb=max_rss / (1024 * 1024),
        timed_out=returncode == -9 and wall >= timeout_s,
        stdout_path=stdout_path,
        stderr_path=stderr_path,
    )
