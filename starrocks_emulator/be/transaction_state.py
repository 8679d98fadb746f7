"""The state of one transaction of the Stream Load transaction interface, and how operations refuse.

Shared by the single-table transactions (be/transactions.py) and the multi-table ones of 4.0
(be/multi_table_transactions.py, where each table's share of a transaction is one of these).
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from starrocks_emulator.storage.ledger import SCHEMA

DEFAULT_TIMEOUT_S = 600
DEFAULT_PREPARED_TIMEOUT_S = 86400


class TxnError(Exception):
    """An operation refused with a TStatusCode name (`TXN_NOT_EXISTS`, `INTERNAL_ERROR`, ...) and message."""

    def __init__(self, code: str, message: str, existing_job_status: str | None = None) -> None:
        super().__init__(message)
        self.code, self.message, self.existing_job_status = code, message, existing_job_status
        self.error_url: str | None = None


@dataclass
class Transaction:
    txn_id: int
    label: str
    db: str
    table: str
    user: str
    backend: int | None  # the coordinator BE holding its context while in PREPARE
    timeout: float = DEFAULT_TIMEOUT_S
    idle_timeout: float | None = None
    prepared_timeout: float = DEFAULT_PREPARED_TIMEOUT_S
    state: str = "PREPARE"
    context_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    begun_at: float = field(default_factory=time.monotonic)
    last_activity: float = field(default_factory=time.monotonic)
    prepared_at: float | None = None
    columns: list[str] | None = None
    has_op: bool = False
    merge_condition: str | None = None
    partial_update: bool = False
    max_filter_ratio: float = 0.0
    loads: int = 0
    total_rows: int = 0
    filtered_rows: int = 0
    unselected_rows: int = 0
    load_bytes: int = 0
    error_lines: list[str] = field(default_factory=list)
    busy: threading.Lock = field(default_factory=threading.Lock)
    stage_suffix: str = ""  # a multi-table transaction stages each table apart: "_<n>" for its n-th table

    @property
    def stage_table(self) -> str:
        return f"{SCHEMA}.txn_stage_{self.txn_id}{self.stage_suffix}"

    def brief(self) -> str:
        """StreamLoadContext::brief() (stream_load_context.cpp), as BE messages quote it."""
        return f"id={self.context_id}, job_id=-1, txn_id: {self.txn_id}, label={self.label}, db={self.db}"

    def too_many_filtered(self) -> bool:
        """be `stream_load_executor.cpp`: filtered / selected rows over `max_filter_ratio` fails the load."""
        selected = self.total_rows - self.unselected_rows
        return bool(self.filtered_rows) and (
            selected == 0 or self.filtered_rows / selected > self.max_filter_ratio
        )

    def counts(self) -> dict[str, Any]:
        return {
            "NumberTotalRows": self.total_rows,
            "NumberLoadedRows": self.total_rows - self.filtered_rows - self.unselected_rows,
            "NumberFilteredRows": self.filtered_rows,
            "NumberUnselectedRows": self.unselected_rows,
            "LoadBytes": self.load_bytes,
        }
