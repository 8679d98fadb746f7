"""SIGTERM and SIGINT during `write`: an orderly stop with a hard bound.

Airbyte cancels a sync, and `docker stop` stops a container, with SIGTERM; Ctrl-C sends SIGINT. Either way
the connector stops reading input, lets a load already sent finish (or rolls back its open transaction),
releases no STATE beyond what is committed, says what it did, and exits within a few seconds with 128 + the
signal's number (143 for SIGTERM, 130 for SIGINT), as a shell reports a process ended by that signal.

Why handlers are installed explicitly for both: in a container the connector is PID 1, and Linux does not
deliver to PID 1 a signal whose action is the default one, so without a handler `docker stop` waits its
grace period and then SIGKILLs (no log, no rollback). Python's own SIGINT handler raises KeyboardInterrupt
wherever the main thread happens to be, in the middle of a table swap as readily as anywhere else.

What the handler does is only what is safe inside a signal handler (it runs in the main thread between two
bytecodes, possibly while that thread holds the output's lock): it records the signal and sets an Event. A
watchdog thread, started before any signal can arrive, does the rest: it logs, asks the writer to stop at its
next safe point, and if the process has not finished within `HARD_STOP_SECONDS`, or a second signal comes,
it ends the process with `os._exit` (a load thread stuck in a socket must not hold the exit; whatever was
already printed stays printed, and no STATE was printed before its records were committed).
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from collections.abc import Callable
from types import FrameType

from destination_starrocks.errors import TransientError

logger = logging.getLogger("airbyte")

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
# How long loads already sent may take to finish after a stop signal (the writer's bounded wait)...
LOAD_GRACE_SECONDS = 5.0
# ... and how long after the signal the process ends whatever it is doing. Below `docker stop`'s default
# 10 s grace period, after which the container would be SIGKILLed without a word.
HARD_STOP_SECONDS = 8.0


def exit_code_for(signum: int) -> int:
    return 128 + signum


class StopSignals:
    """Installs the handlers; `attach(fn)` names what to call (once, on the watchdog thread) on a signal."""

    def __init__(
        self,
        hard_stop_seconds: float = HARD_STOP_SECONDS,
        hard_exit: Callable[[int], None] = os._exit,
    ) -> None:
        self.signum: int | None = None
        self._hard_stop_seconds = hard_stop_seconds
        self._hard_exit = hard_exit
        self._signalled = threading.Event()  # set by the first signal's handler only
        self._hurry = threading.Event()  # set by a second signal's handler only
        self._finished = threading.Event()  # set by the main thread when it exits on its own
        self._lock = threading.Lock()  # main thread (attach) vs watchdog: who calls on_stop
        self._on_stop: Callable[[str], None] | None = None
        self._stop_requested = False
        self._previous: dict[int, object] = {}

    @property
    def signalled(self) -> bool:
        return self.signum is not None

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name if self.signum is not None else ""

    @property
    def exit_code(self) -> int:
        return exit_code_for(self.signum) if self.signum is not None else 0

    def install(self) -> StopSignals:
        """Take over SIGTERM and SIGINT; `uninstall()` gives them back. Off the main thread (where Python
        runs no signal handler) it does nothing."""
        if threading.current_thread() is not threading.main_thread():
            return self
        threading.Thread(target=self._watch, name="stop-watchdog", daemon=True).start()
        for signum in STOP_SIGNALS:
            self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def uninstall(self) -> None:
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)  # type: ignore[arg-type]
        self._previous.clear()

    def attach(self, on_stop: Callable[[str], None]) -> None:
        """From now on a signal calls `on_stop(signal name)`; at once if one already came."""
        with self._lock:
            self._on_stop = on_stop
            call = self.signalled and not self._stop_requested
            self._stop_requested = self._stop_requested or call
        if call:
            on_stop(self.name)

    def detach(self) -> None:
        with self._lock:
            self._on_stop = None

    def exit_now(self, code: int) -> None:
        """The main thread is done after a signal: end the process here, without waiting for load threads
        that may still be inside a socket (Python would join them at exit)."""
        self._finished.set()
        _flush_standard_streams()
        self._hard_exit(code)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        # Signal-handler context: set flags, nothing that takes a lock the main thread may hold.
        if self.signum is None:
            self.signum = signum
            self._signalled.set()
        else:
            self._hurry.set()

    def _watch(self) -> None:
        self._signalled.wait()
        logger.warning(
            "Received %s: stopping the sync. No more input is read and no new load is sent; loads already "
            "sent get up to %.0f s to finish, open transactions are rolled back, and only STATEs whose "
            "records are committed are emitted. Exiting within %.0f s with code %d.",
            self.name,
            LOAD_GRACE_SECONDS,
            self._hard_stop_seconds,
            self.exit_code,
        )
        with self._lock:
            on_stop = None if self._stop_requested else self._on_stop
            self._stop_requested = self._stop_requested or on_stop is not None
        if on_stop is not None:
            on_stop(self.name)
        second = self._hurry.wait(self._hard_stop_seconds)
        if self._finished.is_set():
            return
        logger.error(
            "%s: exiting now. Loads still in flight are abandoned; their records' STATEs were not emitted, so "
            "the next sync sends those records again.",
            f"A second {self.name}"
            if second
            else f"Not stopped {self._hard_stop_seconds:.0f} s after {self.name}",
        )
        _flush_standard_streams()
        self._hard_exit(self.exit_code)


def _flush_standard_streams() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass


class Stopped(TransientError):
    """The sync was stopped by a signal before the end of its input; a later sync resumes from the last STATE
    emitted (transient: nothing is wrong with the config or the data)."""

    def __init__(self, signal_name: str) -> None:
        super().__init__(
            f"The sync was stopped by {signal_name} before the end of its input. Every STATE emitted covers only "
            "committed records; the next sync resumes from the last one."
        )
        self.signal_name = signal_name
