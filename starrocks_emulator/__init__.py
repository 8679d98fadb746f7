"""A StarRocks emulator for tests, benchmarks and the demo (issue 4).

MySQL protocol (mysql_frontend.py), FE/BE HTTP Stream Load and the transaction interface (http_fe.py,
http_be.py), StarRocks versions, labels and load jobs (engine.py, ledger.py) over DuckDB, and fault injection
(faults.py). Start it with `python -m starrocks_emulator` or `process.EmulatorProcess`.
"""

from __future__ import annotations

from starrocks_emulator.storage.catalog import Column, EmulatorError, TableMeta
from starrocks_emulator.storage.engine import Engine

__all__ = ["Column", "EmulatorError", "Engine", "TableMeta"]
