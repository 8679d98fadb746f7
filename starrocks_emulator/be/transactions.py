"""The Stream Load transaction interface's state: transactions by label, who holds them, and their rows.

Follows StarRocks' split between BE and FE (be/src/runtime/stream_load/transaction_mgr.cpp,
be/src/http/action/transaction_stream_load.cpp, fe `TransactionWithoutChannelHandler`):
- `begin` runs on a BE (the coordinator the leader FE chose). A transaction in PREPARE lives in that BE's
  stream context: `load`, `prepare`, `commit` and `rollback` of it work there and nowhere else (another BE
  answers `TXN_NOT_EXISTS`).
- `prepare` (and `commit` of a PREPARE transaction) end the fragment: only then is the filter ratio checked
  ("too many filtered rows", be/src/runtime/stream_load/stream_load_executor.cpp) and an empty transaction
  refused ("... hasn't send any data yet"); the BE then drops its context (`stream_context_mgr()->remove`),
  so a `load` after `prepare` answers `TXN_NOT_EXISTS "Transaction with label L not exists"`.
- A PREPARED transaction belongs to the FE: the leader commits (`commitPreparedTransaction`) or aborts it. It
  survives a restart (rows staged in a DuckDB table of the internal schema); a PREPARE one does not (a BE's
  context is memory), see storage/ledger.py.
- Timeouts: `timeout` (PREPARE -> PREPARED, default 600 s) and `idle_transaction_timeout` abort on the BE
  ("transaction is aborted by timeout N seconds." / "... by idle timeout N seconds.", transaction_mgr.cpp);
  `prepared_timeout` (default 86400 s, docs Stream_Load_transaction_interface) aborts a PREPARED one.
Answers are built by be/transactions_rest.py (BE) and fe/transactions_rest.py (FE); this module returns
`TxnError(status_code, message)` or the transaction. 4.0's multi-table transactions are
be/multi_table_transactions.py (`TransactionManager.multi`), their rows staged by `append_body` as here.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from starrocks_emulator.be.multi_table_transactions import MultiTableTransactions
from starrocks_emulator.be.stream_load import (
    LoadFailure,
    LoadOptions,
    check_load_target,
    decode_body,
    stage_body,
)
from starrocks_emulator.be.transaction_state import (
    DEFAULT_PREPARED_TIMEOUT_S,
    DEFAULT_TIMEOUT_S,
    Transaction,
    TxnError,
)
from starrocks_emulator.storage.catalog import EmulatorError, TableMeta
from starrocks_emulator.storage.engine import Engine
from starrocks_emulator.storage.ledger import LabelAlreadyExistsError
from starrocks_emulator.storage.table_models import OP
from starrocks_emulator.version import supports

__all__ = ["Transaction", "TransactionManager", "TxnError", "load_txn_begin"]


def load_txn_begin(
    engine: Engine, db: str, table: str, label: str, credentials: tuple[str, str], client_ip: str
) -> int:
    """What a BE's begin asks of the leader, fe `FrontendServiceImpl.loadTxnBegin`: password, INSERT on the
    table (`checkPasswordAndLoadPriv`), database, table, then the label (format, not used); returns the txn id.
    Its failures are `ANALYSIS_ERROR` (a `UserException`) or `LABEL_ALREADY_EXISTS` with `ExistingJobStatus`."""
    user, password = credentials
    if not engine.authenticate(user, password):
        raise TxnError("ANALYSIS_ERROR", f"Access denied for {user}@{client_ip}")
    try:
        engine.check_privilege(user, "INSERT", db, table)
    except EmulatorError:
        raise TxnError(
            "ANALYSIS_ERROR",
            "Access denied; you need (at least one of) the INSERT privilege(s) for this operation",
        ) from None
    if db not in engine.databases():
        raise TxnError("ANALYSIS_ERROR", f"unknown database, database={db}")
    if table not in engine.tables(db):
        raise TxnError("ANALYSIS_ERROR", f'unknown table "{db}.{table}"')
    try:
        txn_id, _ = engine.begin_load(db, label, table, "STREAM", user)
    except LabelAlreadyExistsError as exc:
        raise TxnError("LABEL_ALREADY_EXISTS", exc.message, exc.existing_job_status) from None
    except EmulatorError as exc:
        raise TxnError("ANALYSIS_ERROR", exc.message) from None
    return txn_id


class TransactionManager:
    """Open transactions by (db, label); thread-safe. One operation at a time per transaction (`busy`):
    a second one meanwhile answers `TXN_IN_PROCESSING` (StreamLoadContext::try_lock)."""

    def __init__(self, engine: Engine, spool_dir: str) -> None:
        self.engine = engine
        self.spool_dir = spool_dir
        self._lock = threading.RLock()
        self._txns: dict[tuple[str, str], Transaction] = {}
        self.multi = MultiTableTransactions(self)  # 4.0's transactions over several tables
        self._restore_prepared()

    def _restore_prepared(self) -> None:
        for job in self.engine.ledger.jobs():
            if job["state"] != "PREPARED":
                continue
            txn = Transaction(
                job["txn_id"], job["label"], job["db"], job["tbl"], job["user_name"], None, state="PREPARED"
            )
            txn.prepared_at = time.monotonic()
            names, _ = self.engine.query(f"SELECT * FROM {txn.stage_table} LIMIT 0")
            txn.columns = [n for n in names if n not in (OP, "__seq")]
            txn.has_op = OP in names
            txn.total_rows = int(job["scan_rows"] or 0)
            txn.filtered_rows = int(job["filtered_rows"] or 0)
            txn.load_bytes = int(job["load_bytes"] or 0)
            self._txns[(txn.db, txn.label)] = txn

    # ------------------------------------------------------------------ lookups
    def held_by(self, backend: int, db: str, label: str) -> Transaction | None:
        """The transaction in PREPARE whose context `backend` holds (what `stream_context_mgr()->get` finds)."""
        with self._lock:
            txn = self._txns.get((db, label))
        if txn is None or txn.state != "PREPARE" or txn.backend != backend:
            return None
        return txn

    def held_label(self, backend: int, label: str) -> Transaction | None:
        """Same, by label alone: a BE's stream contexts are keyed by label, not by database."""
        with self._lock:
            for txn in self._txns.values():
                if txn.label == label and txn.state == "PREPARE" and txn.backend == backend:
                    return txn
        return None

    def coordinator(self, db: str, label: str) -> int | None:
        with self._lock:
            txn = self._txns.get((db, label))
        return txn.backend if txn is not None and txn.state == "PREPARE" else None

    def prepared(self, db: str, label: str) -> Transaction | None:
        with self._lock:
            txn = self._txns.get((db, label))
        return txn if txn is not None and txn.state == "PREPARED" else None

    # ------------------------------------------------------------------ BE operations
    def begin(
        self, backend: int, db: str, table: str, label: str, credentials: tuple[str, str], client_ip: str,
        timeout: float | None, idle_timeout: float | None,
    ) -> Transaction:  # fmt: skip
        txn_id = load_txn_begin(self.engine, db, table, label, credentials, client_ip)
        txn = Transaction(
            txn_id,
            label,
            db,
            table,
            credentials[0],
            backend,
            timeout or DEFAULT_TIMEOUT_S,
            idle_timeout or None,
        )
        with self._lock:
            self._txns[(db, label)] = txn
        self.engine.set_job_state(txn_id, "PREPARE")
        return txn

    def load(self, txn: Transaction, headers: Any, body: bytes) -> None:
        """Append one body to the transaction; a failing body aborts it (the fragment fails)."""
        try:
            self.append_body(txn, headers, body)
        except TxnError as exc:
            self.abort(txn, exc.message)
            raise

    def append_body(self, txn: Transaction, headers: Any, body: bytes) -> None:
        """Stage one body into `txn` (the plan is made at its first body: columns, merge condition, filter
        ratio); TxnError INTERNAL_ERROR when the body cannot be loaded. Aborting is the caller's."""
        try:
            options = LoadOptions.from_headers(headers)
            meta = self.engine.table(txn.db, txn.table)
            check_load_target(meta, options)
            if options.compression and not supports("json_compression"):
                options.compression = (
                    None  # before 3.2.7 the BE reads the compressed bytes as JSON (version.py)
                )
            data = decode_body(body, options.compression)
            self._append(txn, meta, options, data)
        except (LoadFailure, EmulatorError) as exc:
            raise TxnError("INTERNAL_ERROR", getattr(exc, "message", str(exc))) from None
        txn.loads += 1
        txn.last_activity = time.monotonic()

    def _append(self, txn: Transaction, meta: TableMeta, options: LoadOptions, data: bytes) -> None:
        con = self.engine.con
        with self.engine.lock:
            staged = stage_body(con, meta, options, data, self.spool_dir)
            try:
                if txn.columns is None:
                    con.execute(f"CREATE TABLE {txn.stage_table} AS SELECT * FROM {staged.relation} LIMIT 0")
                    txn.columns, txn.has_op = staged.columns, staged.has_op
                    txn.merge_condition, txn.partial_update = options.merge_condition, options.partial_update
                    txn.max_filter_ratio = options.max_filter_ratio  # the plan is made at the first load
                elif staged.columns != txn.columns or staged.has_op != txn.has_op:
                    raise LoadFailure("The columns of every load in one transaction must be the same")
                con.execute(
                    f"INSERT INTO {txn.stage_table} SELECT * REPLACE (__seq + {txn.total_rows} AS __seq) "
                    f"FROM {staged.relation}"
                )
            finally:
                staged.drop(con)
        txn.total_rows += staged.total_rows
        txn.filtered_rows += staged.filtered_rows
        txn.unselected_rows += staged.unselected_rows
        txn.load_bytes += len(data)
        txn.error_lines.extend(staged.error_lines[: max(0, 1000 - len(txn.error_lines))])

    def finish(self, txn: Transaction, prepare: bool, prepared_timeout: float | None) -> None:
        """`_commit_transaction` on the BE: end the fragment, check it, then prepare or commit."""
        if txn.loads == 0:
            self.abort(txn, f"transaction {txn.brief()} hasn't send any data yet")
            raise TxnError("INTERNAL_ERROR", f"transaction {txn.brief()} hasn't send any data yet")
        if txn.too_many_filtered():
            self.abort(txn, "too many filtered rows")
            raise TxnError("INTERNAL_ERROR", "too many filtered rows")
        with self.engine.lock:
            try:
                self.engine.ledger.check_versions(txn.db, txn.table, self.engine.tablet_max_versions)
            except EmulatorError as exc:
                self.abort(txn, exc.message)
                raise TxnError("SERVICE_UNAVAILABLE", exc.message) from None
        if prepare:
            txn.state, txn.backend, txn.prepared_at = "PREPARED", None, time.monotonic()
            txn.prepared_timeout = prepared_timeout or DEFAULT_PREPARED_TIMEOUT_S
            self.engine.set_job_state(
                txn.txn_id,
                "PREPARED",
                scan_rows=txn.total_rows,
                filtered_rows=txn.filtered_rows,
                load_bytes=txn.load_bytes,
            )
        else:
            self.commit(txn)

    # ------------------------------------------------------------------ FE operations (and the BE's commit)
    def commit(self, txn: Transaction) -> None:
        """Publish the staged rows as ONE version; the label becomes VISIBLE."""
        meta = self.engine.table(txn.db, txn.table)
        try:
            self.engine.commit_staged(
                txn.txn_id,
                meta,
                txn.stage_table,
                txn.columns or [],
                scan_rows=txn.total_rows,
                filtered_rows=txn.filtered_rows,
                unselected_rows=txn.unselected_rows,
                load_bytes=txn.load_bytes,
                merge_condition=txn.merge_condition,
                partial_update=txn.partial_update,
            )
        except EmulatorError as exc:
            self.abort(txn, exc.message)
            raise TxnError("INTERNAL_ERROR", exc.message) from None
        txn.state = "VISIBLE"
        self._forget(txn)

    def abort(self, txn: Transaction, reason: str) -> None:
        txn.state = "ABORTED"
        self.engine.abort(txn.txn_id, reason, scan_rows=txn.total_rows, filtered_rows=txn.filtered_rows)
        self._forget(txn)

    def _forget(self, txn: Transaction) -> None:
        with self._lock:
            if self._txns.get((txn.db, txn.label)) is txn:
                del self._txns[(txn.db, txn.label)]
        self.drop_stage(txn)

    def drop_stage(self, txn: Transaction) -> None:
        with self.engine.lock:
            self.engine.con.execute(f"DROP TABLE IF EXISTS {txn.stage_table}")

    # ------------------------------------------------------------------ housekeeping
    def expire(self) -> list[str]:
        """Abort transactions whose timeout, idle timeout or prepared timeout has passed; returns their labels."""
        now = time.monotonic()
        expired = self.multi.expire(now)
        with self._lock:
            candidates = list(self._txns.values())
        for txn in candidates:
            reason = None
            if txn.state == "PREPARE" and now - txn.begun_at > txn.timeout:
                reason = f"transaction is aborted by timeout {txn.timeout:g} seconds."
            elif txn.state == "PREPARE" and txn.idle_timeout and now - txn.last_activity > txn.idle_timeout:
                reason = f"transaction is aborted by idle timeout {txn.idle_timeout:g} seconds."
            elif txn.state == "PREPARED" and txn.prepared_at and now - txn.prepared_at > txn.prepared_timeout:
                reason = f"prepared transaction timeout, prepared_timeout {txn.prepared_timeout:g} s"
            if reason and txn.busy.acquire(blocking=False):
                try:
                    if txn.state in ("PREPARE", "PREPARED"):
                        self.abort(txn, reason)
                        expired.append(txn.label)
                finally:
                    txn.busy.release()
        return expired
