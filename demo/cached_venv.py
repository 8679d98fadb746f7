"""A pinned package in a virtual environment of its own, created on first use and reused afterwards.

Contract: `PinnedVenv(path, package, version).ensure()` returns the environment once `package==version` is
installed in it, running `python -m venv --clear` and `pip install` only when the marker file
`.installed-<package>-<version>` is missing (a first run, or another pinned version). Later calls cost a stat.
`environment()` is the parent's environment without what would make a child use our venv instead of its own.

Why: Airbyte runs every connector in its own container, with its own dependencies; the demo's source
(source-faker) and the PyAirbyte test each pin an airbyte-cdk or other libraries this project does not run
on. A venv per tool gives each its own interpreter instead of narrowing our dependency ranges, and caching it
under .demo/ means a fresh clone installs each once from the package index, not once per run. `ensure()` holds
an exclusive lock on `<path>.lock` (fcntl.flock) while it checks and installs, so the test workers of `make
test` that need the same venv install it once and the others wait for it.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

INSTALL_TIMEOUT_S = 900


def environment() -> dict[str, str]:
    """The parent's environment without what would make the child use our venv instead of its own."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")
    }
    env["PYTHONUNBUFFERED"] = "1"
    return env


@dataclass(frozen=True)
class PinnedVenv:
    path: Path
    package: str
    version: str

    @property
    def python(self) -> Path:
        return self.path / "bin" / "python"

    def executable(self, name: str) -> Path:
        return self.path / "bin" / name

    @property
    def marker(self) -> Path:
        return self.path / f".installed-{self.package}-{self.version}"

    @property
    def requirement(self) -> str:
        return f"{self.package}=={self.version}"

    def ensure(self, say: Callable[[str], object] = print, expect: str | None = None) -> PinnedVenv:
        """Install unless already installed; `expect` names an executable the package must provide."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.parent / f"{self.path.name}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
            return self._ensure_locked(say, expect)

    def _ensure_locked(self, say: Callable[[str], object], expect: str | None) -> PinnedVenv:
        if self.marker.exists() and (expect is None or self.executable(expect).exists()):
            say(f"{self.requirement} already installed in {self.path}")
            return self
        say(f"creating {self.path} and installing {self.requirement} into it (first run only)")
        started = time.monotonic()
        _run([sys.executable, "-m", "venv", "--clear", str(self.path)], f"create {self.path}")
        _run(
            [
                str(self.python),
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                self.requirement,
            ],
            f"pip install {self.requirement}",
        )
        if expect is not None and not self.executable(expect).exists():
            raise RuntimeError(f"{self.requirement} installed but {self.executable(expect)} is missing")
        self.marker.write_text(f"{self.requirement}\n", encoding="utf-8")
        say(f"installed in {time.monotonic() - started:.0f} s")
        return self


def _run(argv: list[str], what: str) -> None:
    result = subprocess.run(
        argv, capture_output=True, text=True, timeout=INSTALL_TIMEOUT_S, env=environment()
    )
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).splitlines()[-20:])
        raise RuntimeError(f"could not {what} (exit {result.returncode}):\n{tail}")
