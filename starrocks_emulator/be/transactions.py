"""The Stream Load transaction interface: begin, load (many times), prepare, commit, rollback.

Follows https://docs.starrocks.io/docs/loading/Stream_Load_transaction_interface/ (2.4+):
- states PREPARE --prepare--> PREPARED --commit--> COMMITTED(VISIBLE); rollback from PREPARE or PREPARED ->
  ABORTED; the emulator also commits straight from PREPARE (StarRocks commits an unprepared txn too);
- every `load` call appends rows to the transaction; `commit` publishes them as ONE version;
- a label already used answers `LABEL_ALREADY_EXISTS` with `ExistingJobStatus` (RUNNING / FINISHED);
- an error in begin/load/prepare rolls the transaction back;
- `timeout` (PREPARE -> PREPARED, default 600 s), `idle_transaction_timeout` (no load for that long) and
  `prepared_timeout` (PREPARED -> COMMITTED, default 86400 s) abort the transaction when they expire;
- response bodies and messages as on that page ("Transcation Not Exist" and "Transcation State Invalid" are
  StarRocks' own spelling, "Transaction already commited" too).
Rows of an open transaction are staged in a DuckDB table of the internal schema, so a PREPARED transaction
survives an emulator restart (as StarRocks promises) and can be committed afterwards.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

from starrocks_emulator.be.stream_load import (
    LoadFailure,
    LoadOptions,
    check_label,
    check_load_target,
    decode_body,
    stage_body,
)
from starrocks_emulator.storage.catalog import EmulatorError, TableMeta
from starrocks_emulator.storage.engine import Engine
from starrocks_emulator.storage.ledger import SCHEMA, LabelAlreadyExistsError
from starrocks_emulator.storage.table_models import OP

DEFAULT_TIMEOUT_S = 600
DEFAULT_PREPARED_TIMEOUT_S = 86400
NOT_EXIST = "Transcation Not Exist"
STATE_INVALID = "Transcation State Invalid"


@dataclass
class Transaction:
    txn_id: int
    label: str
    db: str
    table: str
    user: str
    timeout: float = DEFAULT_TIMEOUT_S
    idle_timeout: float | None = None
    prepared_timeout: float = DEFAULT_PREPARED_TIMEOUT_S
    state: str = "PREPARE"
    begun_at: float = field(default_factory=time.monotonic)
    last_activity: float = field(default_factory=time.monotonic)
    prepared_at: float | None = None
    columns: list[str] | None = None
    has_op: bool = False
    merge_condition: str | None = None
    partial_update: bool = False
    loads: int = 0
    total_rows: int = 0
    filtered_rows: int = 0
    unselected_rows: int = 0
    load_bytes: int = 0

    @property
    def stage_table(self) -> str:
        return f"{SCHEMA}.txn_stage_{self.txn_id}"

    def counts(self) -> dict[str, Any]:
        return {
            "NumberTotalRows": self.total_rows,
            "NumberLoadedRows": self.total_rows - self.filtered_rows - self.unselected_rows,
            "NumberFilteredRows": self.filtered_rows,
            "NumberUnselectedRows": self.unselected_rows,
            "LoadBytes": self.load_bytes,
        }


def _reply(txn: Transaction | None, label: str | None, status: str, message: str = "", **extra: Any) -> dict:
    body: dict[str, Any] = {
        "TxnId": txn.txn_id if txn else -1,
        "Label": label,
        "Status": status,
        "Message": message,
    }
    body.update(extra)
    return body


class TransactionManager:
    """Open transactions by (db, label); thread-safe; DuckDB work under the engine lock."""

    def __init__(self, engine: Engine, spool_dir: str) -> None:
        self.engine = engine
        self.spool_dir = spool_dir
        self._lock = threading.RLock()
        self._txns: dict[tuple[str, str], Transaction] = {}
        self._restore_prepared()

    def _restore_prepared(self) -> None:
        for job in self.engine.ledger.jobs():
            if job["state"] != "PREPARED":
                continue
            txn = Transaction(
                job["txn_id"], job["label"], job["db"], job["tbl"], job["user_name"], state="PREPARED"
            )
            txn.prepared_at = time.monotonic()
            names, _ = self.engine.query(f"SELECT * FROM {txn.stage_table} LIMIT 0")
            txn.columns = [n for n in names if n not in (OP, "__seq")]
            txn.has_op = OP in names
            txn.total_rows = int(job["scan_rows"] or 0)
            txn.filtered_rows = int(job["filtered_rows"] or 0)
            txn.load_bytes = int(job["load_bytes"] or 0)
            self._txns[(txn.db, txn.label)] = txn

    # ------------------------------------------------------------------ operations
    def begin(
        self,
        db: str,
        table: str,
        label: str | None,
        user: str,
        timeout: float | None,
        idle_timeout: float | None,
    ) -> dict:
        started = time.perf_counter()
        if not label:
            return _reply(None, label, "FAILED", "No label in request header")
        try:
            check_label(label)
            self.engine.check_privilege(user, "INSERT", db, table)
            txn_id, _ = self.engine.begin_load(db, label, table, "STREAM", user)
        except LabelAlreadyExistsError as exc:
            return {
                "Status": "LABEL_ALREADY_EXISTS",
                "ExistingJobStatus": exc.existing_job_status,
                "Message": f"Label [{label}] has already been used.",
                "Label": label,
            }
        except (EmulatorError, LoadFailure) as exc:
            return _reply(None, label, "FAILED", getattr(exc, "message", str(exc)))
        txn = Transaction(
            txn_id, label, db, table, user, timeout=timeout or DEFAULT_TIMEOUT_S, idle_timeout=idle_timeout
        )
        with self._lock:
            self._txns[(db, label)] = txn
        self.engine.set_job_state(txn_id, "PREPARE")
        return _reply(txn, label, "OK", "", BeginTxnTimeMs=int((time.perf_counter() - started) * 1000))

    def _open(self, db: str, label: str | None) -> tuple[Transaction | None, dict | None]:
        txn = self._txns.get((db, label or ""))
        if txn is None:
            job = self.engine.job(db, label) if label else None
            fake = Transaction(job["txn_id"], label or "", db, job["tbl"], "") if job else None
            return None, _reply(fake, label, "FAILED", NOT_EXIST if job is None else STATE_INVALID)
        return txn, None

    def load(
        self, db: str, table: str | None, label: str | None, user: str, headers: Any, body: bytes
    ) -> dict:
        started = time.perf_counter()
        with self._lock:
            txn, error = self._open(db, label)
            if txn is None:
                return error or {}
            if txn.state != "PREPARE":
                return _reply(txn, label, "FAILED", STATE_INVALID)
            if table and table != txn.table:
                return _reply(
                    txn, label, "FAILED", f"table {table} is not the table of transaction {txn.txn_id}"
                )
            try:
                options = LoadOptions.from_headers(headers)
                meta = self.engine.table(db, txn.table)
                check_load_target(meta, options)
                data = decode_body(body, options.compression)
                received = time.perf_counter()
                self._append(txn, meta, options, data)
            except (LoadFailure, EmulatorError) as exc:
                self._abort(txn, getattr(exc, "message", str(exc)))
                return _reply(txn, label, "FAILED", getattr(exc, "message", str(exc)))
            txn.loads += 1
            txn.last_activity = time.monotonic()
            elapsed_ms = int((time.perf_counter() - started) * 1000)
            return _reply(
                txn,
                label,
                "OK",
                "",
                Seq=txn.loads - 1,
                **txn.counts(),
                LoadTimeMs=elapsed_ms,
                StreamLoadPutTimeMs=0,
                ReceivedDataTimeMs=int((received - started) * 1000),
            )

    def _append(self, txn: Transaction, meta: TableMeta, options: LoadOptions, data: bytes) -> None:
        con = self.engine.con
        with self.engine.lock:
            staged = stage_body(con, meta, options, data, self.spool_dir)
            try:
                staged.check_filter_ratio(options.max_filter_ratio)
                has_op = staged.has_op
                if txn.columns is None:
                    con.execute(f"CREATE TABLE {txn.stage_table} AS SELECT * FROM {staged.relation} LIMIT 0")
                    txn.columns, txn.has_op = staged.columns, has_op
                    txn.merge_condition, txn.partial_update = options.merge_condition, options.partial_update
                elif staged.columns != txn.columns or has_op != txn.has_op:
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

    def prepare(self, db: str, label: str | None, prepared_timeout: float | None) -> dict:
        with self._lock:
            txn, error = self._open(db, label)
            if txn is None:
                return error or {}
            if txn.state == "PREPARED":
                return _reply(txn, label, "OK", "", **txn.counts())
            if txn.state != "PREPARE":
                return _reply(txn, label, "FAILED", STATE_INVALID)
            txn.state, txn.prepared_at = "PREPARED", time.monotonic()
            txn.prepared_timeout = prepared_timeout or DEFAULT_PREPARED_TIMEOUT_S
            self.engine.set_job_state(
                txn.txn_id,
                "PREPARED",
                scan_rows=txn.total_rows,
                filtered_rows=txn.filtered_rows,
                load_bytes=txn.load_bytes,
            )
            return _reply(txn, label, "OK", "", **txn.counts(), WriteDataTimeMs=0, CommitAndPublishTimeMs=0)

    def commit(self, db: str, label: str | None) -> dict:
        started = time.perf_counter()
        with self._lock:
            txn, error = self._open(db, label)
            if txn is None:
                job = self.engine.job(db, label) if label else None
                if job is not None and job["state"] in ("COMMITTED", "VISIBLE"):
                    return {
                        "TxnId": job["txn_id"],
                        "Label": label,
                        "Status": "OK",
                        "Message": "Transaction already commited",
                    }
                return error or {}
            meta = self.engine.table(db, txn.table)
            try:
                if txn.columns is None:  # nothing loaded: an empty transaction still publishes
                    with self.engine.lock:
                        self.engine.con.execute(f"CREATE TABLE {txn.stage_table} (__seq BIGINT)")
                    txn.columns = []
                self.engine.commit_staged(
                    txn.txn_id,
                    meta,
                    txn.stage_table,
                    txn.columns,
                    scan_rows=txn.total_rows,
                    filtered_rows=txn.filtered_rows,
                    unselected_rows=txn.unselected_rows,
                    load_bytes=txn.load_bytes,
                    merge_condition=txn.merge_condition,
                    partial_update=txn.partial_update,
                )
            except EmulatorError as exc:
                self._abort(txn, exc.message)
                return _reply(txn, label, "FAILED", exc.message)
            self._forget(txn)
            elapsed = int((time.perf_counter() - started) * 1000)
            return _reply(
                txn,
                label,
                "OK",
                "",
                **txn.counts(),
                LoadTimeMs=elapsed,
                StreamLoadPutTimeMs=0,
                ReceivedDataTimeMs=0,
                WriteDataTimeMs=elapsed,
                CommitAndPublishTimeMs=elapsed,
            )

    def rollback(self, db: str, label: str | None) -> dict:
        with self._lock:
            txn, error = self._open(db, label)
            if txn is None:
                return error or {}
            self._abort(txn, "transaction rolled back by the client")
            return _reply(txn, label, "OK", "")

    def fail(self, db: str, label: str | None, reason: str) -> dict:
        """A load of the transaction failed: the transaction is rolled back (docs: "Precautions")."""
        with self._lock:
            txn, error = self._open(db, label)
            if txn is None:
                return error or {}
            self._abort(txn, reason)
            return _reply(txn, label, "FAILED", reason)

    def table_of(self, db: str, label: str | None) -> str | None:
        txn = self._txns.get((db, label or ""))
        return txn.table if txn else None

    # ------------------------------------------------------------------ housekeeping
    def _abort(self, txn: Transaction, reason: str) -> None:
        txn.state = "ABORTED"
        self.engine.abort(txn.txn_id, reason, scan_rows=txn.total_rows, filtered_rows=txn.filtered_rows)
        self._forget(txn)

    def _forget(self, txn: Transaction) -> None:
        self._txns.pop((txn.db, txn.label), None)
        with self.engine.lock:
            self.engine.con.execute(f"DROP TABLE IF EXISTS {txn.stage_table}")

    def expire(self) -> list[str]:
        """Abort transactions whose timeout, idle timeout or prepared timeout has passed; returns their labels."""
        now = time.monotonic()
        expired = []
        with self._lock:
            for txn in list(self._txns.values()):
                reason = None
                if txn.state == "PREPARE" and now - txn.begun_at > txn.timeout:
                    reason = f"timeout by txn manager, timeout {txn.timeout:g} s"
                elif (
                    txn.state == "PREPARE" and txn.idle_timeout and now - txn.last_activity > txn.idle_timeout
                ):
                    reason = f"idle transaction timeout, idle_transaction_timeout {txn.idle_timeout:g} s"
                elif (
                    txn.state == "PREPARED"
                    and txn.prepared_at
                    and now - txn.prepared_at > txn.prepared_timeout
                ):
                    reason = f"prepared transaction timeout, prepared_timeout {txn.prepared_timeout:g} s"
                if reason:
                    self._abort(txn, reason)
                    expired.append(txn.label)
        return expired
