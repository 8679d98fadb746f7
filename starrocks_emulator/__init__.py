"""A StarRocks emulator for tests, benchmarks and the demo: a cluster of FEs and BEs in one process.

The cluster and its routing (cluster.py, fe/, be/), the MySQL protocol (sql/), StarRocks versions, labels and
load jobs over DuckDB (storage/), the release it plays (version.py) and fault injection (faults.py). Start it
with `python -m starrocks_emulator` or `process.EmulatorProcess`; README.md says what it follows.
"""

from __future__ import annotations

from starrocks_emulator.storage.catalog import Column, EmulatorError, TableMeta
from starrocks_emulator.storage.engine import Engine

__all__ = ["Column", "EmulatorError", "Engine", "TableMeta"]
