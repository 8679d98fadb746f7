"""demo/cached_venv.py: a pinned venv is installed once even when several test workers ask for it at once."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from demo import cached_venv
from demo.cached_venv import PinnedVenv


def test_concurrent_ensures_install_once_and_all_return_the_installed_venv(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    installs: list[str] = []

    def slow_install(argv: list[str], what: str) -> None:
        installs.append(what)
        (tmp_path / "tool-venv").mkdir(exist_ok=True)  # what `python -m venv` would leave
        time.sleep(0.2)  # long enough for the other callers to reach the lock

    monkeypatch.setattr(cached_venv, "_run", slow_install)
    venv = PinnedVenv(tmp_path / "tool-venv", "tool", "1.0")
    said: list[str] = []
    results: list[PinnedVenv] = []
    callers = [
        threading.Thread(target=lambda: results.append(venv.ensure(say=said.append))) for _ in range(3)
    ]
    for caller in callers:
        caller.start()
    for caller in callers:
        caller.join()

    assert installs == [f"create {venv.path}", "pip install tool==1.0"]
    assert results == [venv] * 3
    assert venv.marker.read_text(encoding="utf-8") == "tool==1.0\n"
    assert sum("already installed" in line for line in said) == 2
