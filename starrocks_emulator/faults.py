"""Fault injection: the failure modes of StarRocks the connector's reliability tests need, on demand.

A fault is switched on with `POST /_emulator/faults` (`{"fault": NAME, ...params}`) or the CLI
(`python -m starrocks_emulator fault --http-port H NAME [--count N] [--seconds S]`) and off
with `{"clear": true}` (all) or `{"fault": NAME, "off": true}` (one). Counted faults fire on the next `count`
loads and then switch themselves off; timed faults stay on for `seconds`; `fe_redirect_dead_be` and
`redirect_host` stay on until cleared. A fault of a BE (`BACKEND_FAULTS`) hits every BE unless it names one
with `be` (a BE id, 1..M): then only that BE's loads consume it. The table of names, parameters and behaviours
is in starrocks_emulator/README.md.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

# name -> (counted: fires on the next N loads, timed: has `seconds`)
FAULTS: dict[str, tuple[bool, bool]] = {
    "http_500": (True, False),
    "cut_mid_body": (True, False),
    "slow_be": (True, True),
    "publish_timeout": (True, False),
    "commit_then_cut": (True, False),
    "label_running": (True, True),
    "too_many_versions": (True, True),
    "be_down": (False, True),
    "fe_redirect_dead_be": (False, False),
    "redirect_host": (False, False),
}
# Faults that act on a BE, so they may name one (`be`).
BACKEND_FAULTS = (
    "http_500",
    "cut_mid_body",
    "slow_be",
    "publish_timeout",
    "commit_then_cut",
    "label_running",
    "too_many_versions",
    "be_down",
)
# Faults whose `seconds` is a parameter of each occurrence (a delay), not how long the fault stays on.
_DELAY_FAULTS = ("slow_be", "label_running")


class FaultError(ValueError):
    """A fault request the emulator does not understand (answered with HTTP 400)."""


@dataclass
class Fault:
    name: str
    count: int | None = None  # occurrences left; None = not counted
    seconds: float | None = None  # delay per occurrence (slow_be, label_running) or duration
    until: float | None = None  # monotonic deadline for timed faults
    params: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> dict[str, Any]:
        remaining = None if self.until is None else max(0.0, round(self.until - time.monotonic(), 3))
        return {"count": self.count, "seconds": self.seconds, "remaining_seconds": remaining, **self.params}


class FaultBoard:
    """The active faults; thread-safe. `take(name)` consumes one occurrence and returns the fault or None."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: dict[str, Fault] = {}

    def set(self, name: str, count: int | None = None, seconds: float | None = None, **params: Any) -> Fault:
        if name not in FAULTS:
            raise FaultError(f"unknown fault {name!r}; known: {', '.join(sorted(FAULTS))}")
        counted, timed = FAULTS[name]
        if name == "redirect_host" and not params.get("host"):
            raise FaultError("redirect_host needs a host")
        if name == "be_down" and seconds is None:
            raise FaultError("be_down needs seconds")
        if count is not None and count < 1:
            raise FaultError("count must be >= 1")
        if "be" in params:
            if name not in BACKEND_FAULTS:
                raise FaultError(f"{name} does not act on a BE, so it takes no `be`")
            try:
                params["be"] = int(params["be"])
            except (TypeError, ValueError):
                raise FaultError(f"be must be a BE id (1, 2, ...), not {params['be']!r}") from None
        fault = Fault(name=name, params=params, seconds=seconds)
        if counted:
            fault.count = count
            if count is None and (seconds is None or name in _DELAY_FAULTS):
                fault.count = 1
        if timed and seconds is not None and name not in _DELAY_FAULTS:
            fault.until = time.monotonic() + seconds
        with self._lock:
            self._faults[name] = fault
        return fault

    def clear(self, name: str | None = None) -> None:
        with self._lock:
            if name is None:
                self._faults.clear()
            else:
                self._faults.pop(name, None)

    def _live(self, name: str) -> Fault | None:
        fault = self._faults.get(name)
        if fault is None:
            return None
        if fault.until is not None and time.monotonic() >= fault.until:
            del self._faults[name]
            return None
        return fault

    def peek(self, name: str, backend: int | None = None) -> Fault | None:
        with self._lock:
            fault = self._live(name)
            return fault if fault is not None and _targets(fault, backend) else None

    def take(self, name: str, backend: int | None = None) -> Fault | None:
        """Consume one occurrence on `backend` (a BE id; None: an FE-side operation, hit only by untargeted
        faults)."""
        with self._lock:
            fault = self._live(name)
            if fault is None or not _targets(fault, backend):
                return None
            if fault.count is not None:
                fault.count -= 1
                if fault.count <= 0:
                    del self._faults[name]
            return fault

    def snapshot(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            return {name: f.describe() for name in list(self._faults) if (f := self._live(name)) is not None}


def _targets(fault: Fault, backend: int | None) -> bool:
    target = fault.params.get("be")
    return target is None or target == backend
