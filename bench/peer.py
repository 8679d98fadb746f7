"""The peer: `target-starrocks`, the Singer/Meltano StarRocks target, on the same records through the MySQL protocol.

Contract: `ensure_peer_env()` creates `.bench-envs/peer` (its own virtual environment, so its pins never touch
the connector's) and installs the peer from the package index on first use; it returns the path of the
`target-starrocks` executable or raises `PeerUnavailable` with the reason. `run_peer(...)` feeds it Singer
messages made from the same generated records and measures it like the connector.

The peer is built on the Meltano Singer SDK's `SQLSink`: it batches records (10,000 by default) and writes
each batch with SQLAlchemy `executemany` INSERTs through the `starrocks` SQLAlchemy dialect, so every
multi-row INSERT statement is one StarRocks transaction and one new version per tablet.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

PEER_REQUIREMENT = "target-starrocks<0.1"  # only alphas (0.0.1aN) are published: needs --pre
PEER_ENV = Path(__file__).resolve().parent.parent / ".bench-envs" / "peer"
INSTALL_TIMEOUT_S = 600


class PeerUnavailable(Exception):
    """The peer could not be installed or started; the message says why."""


def peer_executable(env: Path = PEER_ENV) -> Path:
    return env / "bin" / "target-starrocks"


def _peer_version(env: Path) -> str:
    result = subprocess.run(
        [
            str(env / "bin" / "python"),
            "-c",
            "import importlib.metadata as m; print(m.version('target-starrocks'))",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    return result.stdout.strip() or "unknown"


def ensure_peer_env(env: Path = PEER_ENV, install: bool = True) -> tuple[Path, str]:
    """Install the peer into its own venv unless it is there; return (executable, installed version)."""
    executable = peer_executable(env)
    if not executable.exists():
        if not install:
            raise PeerUnavailable(
                f"{executable} is not installed and installing was turned off (--no-install)"
            )
        base_python = getattr(sys, "_base_executable", sys.executable)
        steps = [
            [base_python, "-m", "venv", str(env)],
            [str(env / "bin" / "python"), "-m", "pip", "install", "--quiet", "--pre", PEER_REQUIREMENT],
        ]
        for step in steps:
            try:
                result = subprocess.run(step, capture_output=True, text=True, timeout=INSTALL_TIMEOUT_S)
            except (OSError, subprocess.TimeoutExpired) as exc:
                raise PeerUnavailable(f"installing the peer failed: {exc}") from exc
            if result.returncode != 0:
                errors = [line for line in result.stderr.splitlines() if not line.startswith("WARNING")]
                raise PeerUnavailable(f"`{' '.join(step[-3:])}` failed: {' '.join(errors[-5:])[:500]}")
        if not executable.exists():
            raise PeerUnavailable(f"installed the peer but {executable} is missing")
    return executable, _peer_version(env)


def write_peer_config(path: Path, host: str, port: int, user: str, password: str, database: str) -> None:
    config: dict[str, Any] = {
        "host": host,
        "port": port,
        "user": user,
        "password": password,
        "database": database,
    }
    path.write_text(json.dumps(config))
    os.chmod(path, 0o600)
