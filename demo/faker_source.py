"""The demo's source: the real Airbyte connector `source-faker`, in a virtual environment of its own.

Contract: `FakerSource.ensure(root)` returns a source whose `source-faker` executable exists, creating
`root/faker-venv` with `pip install airbyte-source-faker==FAKER_VERSION` on first use (cached_venv.py;
~35-40 s on 2 cores; later runs reuse it). `configured_catalog()` runs the source's own `discover` and selects
every stream; `read_command()` is the argv of its `read`, which writes Airbyte messages to stdout.

Why its own environment: source-faker pins an older airbyte-cdk (7.2.1 needs airbyte-cdk>=6.61.6,<7) than the
one this project runs on (7.x); Airbyte runs every connector in its own container, so the demo gives the source
its own interpreter instead of narrowing our dependency ranges.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from demo.cached_venv import PinnedVenv
from demo.cached_venv import environment as source_environment

FAKER_PACKAGE = "airbyte-source-faker"
# 7.2.1: the newest release when this was written; installs on Python 3.10-3.12 (Requires-Python <3.13).
FAKER_VERSION = "7.2.1"
DISCOVER_TIMEOUT_S = 120
# faker's `count` is the number of users; purchases follow it one for one, products are a fixed 100.
FAKER_PRODUCTS = 100


def faker_count(records: int) -> int:
    """The faker `count` that yields about `records` records over users, purchases and products."""
    return max(1, (records - FAKER_PRODUCTS) // 2)


@dataclass(frozen=True)
class FakerSource:
    venv: Path

    @property
    def executable(self) -> Path:
        return self.venv / "bin" / "source-faker"

    @classmethod
    def ensure(cls, root: Path, say=print) -> FakerSource:  # noqa: ANN001 - a print-like callable
        """The source, installed into `root/faker-venv` unless it already is."""
        venv = PinnedVenv(root / "faker-venv", FAKER_PACKAGE, FAKER_VERSION)
        venv.ensure(say=lambda text: say(f"source: {text}"), expect="source-faker")
        return cls(venv=venv.path)

    def config(self, records: int, seed: int, parallelism: int) -> dict[str, Any]:
        return {
            "count": faker_count(records),
            "seed": seed,
            "parallelism": parallelism,
            # One STATE per 1,000 records per stream: the connector must hold them until their loads commit.
            "records_per_slice": 1000,
        }

    def configured_catalog(self, config_path: Path, destination_sync_mode: str) -> dict[str, Any]:
        """Every stream the source discovers, full refresh, written with `destination_sync_mode`."""
        result = subprocess.run(
            [str(self.executable), "discover", "--config", str(config_path)],
            capture_output=True, text=True, timeout=DISCOVER_TIMEOUT_S, env=source_environment(),
        )  # fmt: skip
        catalogs = [
            json.loads(line)["catalog"]
            for line in result.stdout.splitlines()
            if line.startswith("{") and json.loads(line).get("type") == "CATALOG"
        ]
        if result.returncode != 0 or len(catalogs) != 1:
            raise RuntimeError(f"source-faker discover failed:\n{result.stderr[-2000:]}")
        streams = []
        for stream in catalogs[0]["streams"]:
            streams.append(
                {
                    "stream": stream,
                    "sync_mode": "full_refresh",
                    "destination_sync_mode": destination_sync_mode,
                    "primary_key": stream.get("source_defined_primary_key") or [],
                    "cursor_field": stream.get("default_cursor_field") or [],
                    "generation_id": 1,
                    "minimum_generation_id": 0,
                    "sync_id": 1,
                }
            )
        return {"streams": streams}

    def read_command(self, config_path: Path, catalog_path: Path) -> list[str]:
        return [str(self.executable), "read", "--config", str(config_path), "--catalog", str(catalog_path)]
