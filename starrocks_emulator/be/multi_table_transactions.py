"""Multi-table transactions of the Stream Load transaction interface (StarRocks 4.0): one label, one
transaction, loads into several tables of one database, committed at once.

Followed (read at the stored commits, not run against a StarRocks server):
- docs/en/loading/Stream_Load_transaction_interface.md (4.0): "From v4.0 onwards, the Stream Load transaction
  interface supports Multi-table Transaction, that is, loading data into multiple tables within the same
  database"; "you must specify `-H "transaction_type:multi"` for all operations involved"; loads into one
  transaction may name different `table`s, their other settings "must be the same"; a failed begin, load or
  prepare rolls the transaction back.
- fe `TransactionLoadAction`: `transaction_type` equal (ignoring case) to `multi` makes the operation a
  `MULTI_STATEMENT_STREAMING` one, handled by `MultiStatementTransactionHandler`: begin, load, commit and
  rollback; anything else `throw new StarRocksException("Unsupported operation: " + txnOperation)`, i.e.
  prepare answers "Unsupported operation: TXN_PREPARE" (the 4.0 doc also lists prepare with the header; the
  emulator follows the source, the strict side). `timeout` (seconds) bounds the whole transaction, default
  `DEFAULT_TXN_TIMEOUT_MILLIS` = 20000 ms.
- fe `StreamLoadMgr.beginMultiStatementLoadTask`: the FE answers begin itself (no BE); a label held by a
  transaction that is not ABORTED: `LABEL_ALREADY_EXISTS` "Label [L] has already been used." with
  `ExistingJobStatus` its TransactionStatus; a label whose multi-table task the FE still keeps:
  `StreamLoadMultiStmtTask.beginTxn` "Transaction already started with label [L], txnId: N" (an aborted one
  too: its task stays until cleaned). `table` is not read at begin. Success: `{"Status": "OK", "Message": ""}`.
- `StreamLoadMgr.executeLoadTask` / `StreamLoadMultiStmtTask.tryLoad`: a table's first load creates its own
  sub-task (`new StreamLoadTask(..., table, ...)`, so each table has its own plan from its own headers); an
  unknown table `MetaNotFoundException("Failed to find table T in db D")`; a load that fails aborts the
  whole transaction (`cancelOnException`); the load itself is redirected to the sub-task's BE.
- `StreamLoadMultiStmtTask.commitTxn`: every table's load is finished (`waitCoordFinish`: a failure answers
  FAILED and rolls back), then ONE commit (`TransactionStmtExecutor.commitStmt`) publishes all tables. When the
  commit statement itself fails (the emulator: "too many versions") the transaction is rolled back but the
  answer stays `{"Status": "OK", "Message": ""}`: nothing sets an error on the response in that branch, so a
  client must read the label's state after a commit. COMMITED: OK "Transaction N has already committed, label
  is L"; CANCELLED: "Can not commit CANCELLED transaction N, label is L".
- `StreamLoadMultiStmtTask.manualCancelTask`: OK "stream load L abort"; CANCELLED: OK "Transaction N has
  already aborted, label is L"; COMMITED: "Can not abort VISIBLE transaction N, label is L".
- unknown label: "stream load task L does not exist" (load, commit; `StreamLoadMgr`), for rollback the
  source's own concatenation "stream load taskLdoes not exist".
- timeout: `checkNeedRemove` -> `cancelOnTimeout`, error "transaction timeout after Nms".
Not verified, chosen strict: one operation at a time per transaction (the connector sends them in turn);
INSERT is checked on each table at its first load; no idle timeout; tasks are kept in memory only (after a
restart a PREPARE transaction is ABORTED, storage/ledger.py, and its label reusable).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from starrocks_emulator.be.transaction_state import Transaction, TxnError
from starrocks_emulator.storage.catalog import EmulatorError
from starrocks_emulator.storage.engine import StagedPart
from starrocks_emulator.storage.ledger import LabelAlreadyExistsError

if TYPE_CHECKING:
    from starrocks_emulator.be.transactions import TransactionManager
    from starrocks_emulator.topology import Node

MULTI = "multi"  # the `transaction_type` header's value
DEFAULT_MULTI_TIMEOUT_S = 20.0  # fe TransactionLoadAction.DEFAULT_TXN_TIMEOUT_MILLIS
BEGIN, COMMITED, CANCELLED = "BEGIN", "COMMITED", "CANCELLED"  # StreamLoadMultiStmtTask.State


def is_multi_table(headers: Any) -> bool:
    return (headers.get("transaction_type") or "").strip().lower() == MULTI


@dataclass
class MultiTableTransaction:
    txn_id: int
    label: str
    db: str
    user: str
    timeout: float
    state: str = BEGIN
    error: str = ""
    begun_at: float = field(default_factory=time.monotonic)
    parts: dict[str, Transaction] = field(default_factory=dict)  # table -> its rows (a sub-task each)
    busy: threading.Lock = field(default_factory=threading.Lock)


@dataclass(frozen=True)
class CommitOutcome:
    """What a commit did: `error` is the reason it rolled back while the answer stays OK (see above)."""

    rows: int
    error: str = ""


class MultiTableTransactions:
    """The leader FE's multi-table transactions by (db, label); their tables' rows are staged like single-table
    transactions' (TransactionManager.append_body) and applied together (Engine.commit_staged_parts)."""

    def __init__(self, txns: TransactionManager) -> None:
        self._txns = txns
        self.engine = txns.engine
        self._lock = threading.Lock()
        self._by_label: dict[tuple[str, str], MultiTableTransaction] = {}

    def find(self, db: str, label: str) -> MultiTableTransaction | None:
        with self._lock:
            return self._by_label.get((db, label))

    def begin(self, db: str, label: str, user: str, timeout: float | None) -> MultiTableTransaction:
        if db not in self.engine.databases():
            raise TxnError("FAILED", f"Database[{db}] does not exist")
        known = self.find(db, label)
        if known is not None:
            if known.state == COMMITED:
                raise TxnError("LABEL_ALREADY_EXISTS", f"Label [{label}] has already been used.", COMMITED)
            message = f"Transaction already started with label [{label}], txnId: {known.txn_id}"
            raise TxnError("LABEL_ALREADY_EXISTS", message, known.state)
        try:
            txn_id = self.engine.begin_multi_table_load(db, label, user)
        except LabelAlreadyExistsError as exc:
            message = f"Label [{label}] has already been used."
            raise TxnError("LABEL_ALREADY_EXISTS", message, str(exc.existing["state"])) from None
        except EmulatorError as exc:
            raise TxnError("FAILED", exc.message) from None
        txn = MultiTableTransaction(txn_id, label, db, user, timeout or DEFAULT_MULTI_TIMEOUT_S)
        with self._lock:
            self._by_label[(db, label)] = txn
        return txn

    def require(self, db: str, label: str, rollback: bool = False) -> MultiTableTransaction:
        txn = self.find(db, label)
        if txn is None:
            raise TxnError(
                "FAILED",
                f"stream load task{label}does not exist"
                if rollback
                else f"stream load task {label} does not exist",
            )
        return txn

    # ---- loads ----------------------------------------------------------------------------------------

    def part_for_load(self, txn: MultiTableTransaction, table: str, choose: Callable[[], Node | None]) -> int:
        """The id of the BE a load into `table` goes to; the table's first load creates its share of the
        transaction (`tryLoad`), and a refused one aborts the transaction (`cancelOnException`)."""
        if txn.state == CANCELLED:
            raise TxnError("FAILED", f"stream load task {txn.label} has already been cancelled: {txn.error}")
        if txn.state == COMMITED:
            raise TxnError("FAILED", f"stream load task {txn.label} has already been commited")
        part = txn.parts.get(table)
        if part is None:
            try:
                self._check_table(txn, table)
            except TxnError as exc:
                self.abort(txn, exc.message)
                raise
            node = choose()
            if node is None:
                raise TxnError("FAILED", "No backend alive.")
            part = Transaction(
                txn.txn_id, txn.label, txn.db, table, txn.user, node.id, stage_suffix=f"_{len(txn.parts)}"
            )
            txn.parts[table] = part
            self.engine.set_job_state(txn.txn_id, "PREPARE", tbl=",".join(txn.parts))
        assert part.backend is not None
        return part.backend

    def _check_table(self, txn: MultiTableTransaction, table: str) -> None:
        if not table or table not in self.engine.tables(txn.db):
            raise TxnError(
                "FAILED",
                f"class com.starrocks.common.MetaNotFoundException: Failed to find table {table or None} "
                f"in db {txn.db}",
            )
        try:
            self.engine.check_privilege(txn.user, "INSERT", txn.db, table)
        except EmulatorError:
            raise TxnError(
                "FAILED",
                "Access denied; you need (at least one of) the INSERT privilege(s) for this operation",
            ) from None

    def held_part(
        self, backend: int, db: str, label: str, table: str
    ) -> tuple[MultiTableTransaction, Transaction]:
        """On a BE: the share of the transaction this BE takes loads for, else TXN_NOT_EXISTS."""
        txn = self.find(db, label)
        part = txn.parts.get(table) if txn is not None and txn.state == BEGIN else None
        if txn is None or part is None or part.backend != backend:
            raise TxnError("TXN_NOT_EXISTS", f"Transaction with label {label} not exists")
        return txn, part

    def load(self, txn: MultiTableTransaction, part: Transaction, headers: Any, body: bytes) -> None:
        """One body into one table's share (the caller holds `exclusive`); a failure aborts the whole
        transaction."""
        try:
            self._txns.append_body(part, headers, body)
        except TxnError as exc:
            self.abort(txn, exc.message)
            raise

    # ---- the end --------------------------------------------------------------------------------------

    def commit(self, txn: MultiTableTransaction, fail_with: str | None = None) -> CommitOutcome:
        """Finish every table's share (filter ratio), then publish them all as one transaction. Raises
        TxnError for a share that fails; returns the rows, or the error that rolled the commit back
        (`fail_with`: a fault to fail the commit statement with)."""
        with self.exclusive(txn, "FAILED"):
            for part in txn.parts.values():
                if part.too_many_filtered():
                    self.abort(txn, "too many filtered rows")
                    raise TxnError("FAILED", "too many filtered rows")
            parts = [
                StagedPart(
                    self.engine.table(txn.db, p.table),
                    p.stage_table,
                    p.columns or [],
                    p.merge_condition,
                    p.partial_update,
                    p.load_bytes,
                )
                for p in txn.parts.values()
            ]
            try:
                if fail_with is not None:
                    raise EmulatorError(1064, fail_with)
                rows = self.engine.commit_staged_parts(
                    txn.txn_id,
                    parts,
                    scan_rows=sum(p.total_rows for p in txn.parts.values()),
                    filtered_rows=sum(p.filtered_rows for p in txn.parts.values()),
                    unselected_rows=sum(p.unselected_rows for p in txn.parts.values()),
                )
            except EmulatorError as exc:
                self.abort(txn, exc.message)
                return CommitOutcome(0, exc.message)
            txn.state = COMMITED
            self._drop_stages(txn)
            return CommitOutcome(rows)

    def abort(self, txn: MultiTableTransaction, reason: str) -> None:
        if txn.state != BEGIN:
            return
        txn.state, txn.error = CANCELLED, reason
        self.engine.abort(txn.txn_id, reason)
        self._drop_stages(txn)

    def rejected_lines(self, txn: MultiTableTransaction) -> list[str]:
        return [line for part in txn.parts.values() for line in part.error_lines][:1000]

    def expire(self, now: float) -> list[str]:
        """Abort the transactions open longer than their `timeout`; returns their labels."""
        with self._lock:
            candidates = [t for t in self._by_label.values() if t.state == BEGIN]
        expired = []
        for txn in candidates:
            if now - txn.begun_at > txn.timeout and txn.busy.acquire(blocking=False):
                try:
                    self.abort(txn, f"transaction timeout after {int(txn.timeout * 1000)}ms")
                    expired.append(txn.label)
                finally:
                    txn.busy.release()
        return expired

    @contextmanager
    def exclusive(self, txn: MultiTableTransaction, code: str) -> Iterator[None]:
        """One operation at a time per transaction (not verified for multi-table ones: the strict side)."""
        if not txn.busy.acquire(blocking=False):
            raise TxnError(code, "Transaction is in processing")
        try:
            yield
        finally:
            txn.busy.release()

    def _drop_stages(self, txn: MultiTableTransaction) -> None:
        for part in txn.parts.values():
            self._txns.drop_stage(part)
