"""The emulator's storage engine: StarRocks' catalog, table models, versions, labels and users over DuckDB.

Both front ends (MySQL protocol and HTTP Stream Load) call this API and nothing else. StarRocks databases are
DuckDB schemas and tables are DuckDB tables of the same names, so translated SELECTs can read them directly;
catalog, tablets, labels, load jobs and users live in the `_emulator` schema (see ledger.py). With a data
directory everything is one DuckDB file that survives a restart.

Write semantics follow StarRocks: each write call is one transaction that either applies whole or not at all
and publishes one new version on every tablet of the table
(https://docs.starrocks.io/docs/loading/Loading_intro/ — "each load job is a transaction, atomic");
Primary Key tables upsert by key, `__op` = 1 deletes, `merge_condition` keeps a stored row whose condition
column is larger (https://docs.starrocks.io/docs/loading/Load_to_Primary_Key_tables/).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import duckdb

from starrocks_emulator.storage.alter_jobs import AlterJobs
from starrocks_emulator.storage.catalog import (
    Column,
    EmulatorError,
    TableMeta,
    duckdb_type,
    quote_ident,
)
from starrocks_emulator.storage.fe_config import (
    ALTER_SCHEDULER_INTERVAL_MS,
    DEFAULT_REPLICATION_NUM,
    table_properties,
)
from starrocks_emulator.storage.ledger import (
    SCHEMA,
    LabelAlreadyExistsError,
    Ledger,
    information_schema_loads,
    now,
    too_many_versions_message,
)
from starrocks_emulator.storage.privileges_store import PrivilegeStore
from starrocks_emulator.storage.recycle_bin import CATALOG_TRASH_EXPIRE_SECOND, RecycleBin
from starrocks_emulator.storage.replicas import Replicas
from starrocks_emulator.storage.schema_change import (
    FAST_SCHEMA_EVOLUTION,
    SchemaChanges,
    column_ddl,
    qualified,
)
from starrocks_emulator.storage.table_models import PRIMARY_KEY_LIMIT_SIZE, apply_staged
from starrocks_emulator.topology import Topology, single_node

__all__ = ["Column", "EmulatorError", "Engine", "LabelAlreadyExistsError", "TableMeta"]
log = logging.getLogger("starrocks_emulator.engine")

DB_FILE_NAME = "starrocks_emulator.duckdb"
FIRST_TABLE_ID = 100001  # table ids move with a table through RENAME, SWAP and RECOVER, as StarRocks' do
OP_COLUMN = "__op"
SEQ_COLUMN = "__seq"
# One DuckDB thread: every access holds `lock`, so queries never overlap, and the emulator shares its machine
# with the client it serves (2 cores for the benchmarks): a second thread saved little wall time on a load and
# cost more CPU in all (about 10% on the connector's bulk body, be/stream_load.py), taken from the client.
DUCKDB_THREADS = 1


@dataclass(frozen=True)
class StagedPart:
    """One table's staged rows of a transaction, ready to be applied (Engine.commit_staged_parts)."""

    meta: TableMeta
    staged: str  # the staged relation
    columns: list[str]  # target-typed columns it holds (besides `__op`, `__seq`)
    merge_condition: str | None = None
    partial_update: bool = False
    load_bytes: int = 0


@dataclass(frozen=True)
class _TableWrite:
    """One table's part of a committing version: `write(con)` returns the rows it wrote."""

    meta: TableMeta
    load_bytes: int
    write: Callable[[duckdb.DuckDBPyConnection], int]


class Engine(SchemaChanges, RecycleBin, Replicas):
    """StarRocks semantics over one DuckDB connection; every DuckDB access holds `lock`."""

    def __init__(
        self,
        data_dir: str | None,
        root_password: str = "",
        tablet_max_versions: int = 1000,
        compaction_interval_seconds: float | None = None,
        default_replication_num: int = DEFAULT_REPLICATION_NUM,
        compaction_versions_per_second: float | None = None,
        compaction_stopped: bool = False,
    ) -> None:
        self.lock = threading.RLock()
        # Set by the cluster once its ports are bound (cluster.py); one FE and one BE until then.
        self.topology: Topology = single_node()
        self.data_dir = data_dir
        self.tablet_max_versions = tablet_max_versions
        self.primary_key_limit_size = PRIMARY_KEY_LIMIT_SIZE  # BE config, see table_models.check_key_size
        # FE configs (ADMIN SHOW / SET FRONTEND CONFIG, fe_config.py); the alter scheduler's round (alter_jobs.py)
        self.default_replication_num = default_replication_num
        self.catalog_trash_expire_second: float = CATALOG_TRASH_EXPIRE_SECOND
        self.alter_step_seconds = ALTER_SCHEDULER_INTERVAL_MS / 1000
        # The compaction model (see _compaction_loop): None merges everything each round; a number caps how much
        # each tablet's version count falls per second. BE config `max_compaction_concurrency`: -1 no limit,
        # 0 compaction off (docs/en/administration/management/BE_configuration.md); settable at runtime with
        # UPDATE information_schema.be_configs (sql/be_system_tables.py).
        self.compaction_versions_per_second = compaction_versions_per_second
        self.max_compaction_concurrency = 0 if compaction_stopped else -1
        self.root_password = root_password
        path = ":memory:"
        if data_dir:
            os.makedirs(data_dir, exist_ok=True)
            path = os.path.join(data_dir, DB_FILE_NAME)
        self.con = duckdb.connect(path, config={"threads": DUCKDB_THREADS})
        self.ledger = Ledger(self.con)
        self.alter_jobs = AlterJobs(self.con)
        self._init_recycle_bin()
        self.privileges = PrivilegeStore(self.con, root_password)
        self._metas: dict[tuple[str, str], TableMeta] = {}
        self._databases: list[str] = []
        self._ingest_rows = 0
        self._ingest_seconds = 0.0
        self._reload_catalog()
        self._stop = threading.Event()
        self._compactor: threading.Thread | None = None
        if compaction_interval_seconds:
            self._compactor = threading.Thread(
                target=self._compaction_loop, args=(compaction_interval_seconds,), daemon=True
            )
            self._compactor.start()

    def close(self) -> None:
        self._stop.set()
        with self.lock:
            self.con.close()

    def _reload_catalog(self) -> None:
        with self.lock:
            self._databases = [
                r[0] for r in self.con.execute(f"SELECT name FROM {SCHEMA}.databases").fetchall()
            ]
            for db, name, meta in self.con.execute(f"SELECT db, name, meta FROM {SCHEMA}.tables").fetchall():
                self._metas[(db, name)] = TableMeta.from_dict(json.loads(meta))

    # ------------------------------------------------------------------ catalog
    def create_database(self, name: str, if_not_exists: bool = False) -> None:
        with self.lock:
            if name in self._databases:
                if if_not_exists:
                    return
                raise EmulatorError(1007, f"Can't create database '{name}'; database exists")
            self.con.execute(f"CREATE SCHEMA IF NOT EXISTS {quote_ident(name)}")
            self.con.execute(f"INSERT INTO {SCHEMA}.databases VALUES (?)", [name])
            self._databases.append(name)

    def drop_database(self, name: str, if_exists: bool = False) -> None:
        with self.lock:
            if name not in self._databases:
                if if_exists:
                    return
                raise EmulatorError(1008, f"Can't drop database '{name}'; database doesn't exist")
            for table in self.tables(name):
                self.drop_table(name, table, force=True)
            self.forget_recycled(name)
            self.con.execute(f"DROP SCHEMA IF EXISTS {quote_ident(name)} CASCADE")
            self.con.execute(f"DELETE FROM {SCHEMA}.databases WHERE name = ?", [name])
            self._databases.remove(name)

    def databases(self) -> list[str]:
        with self.lock:
            return sorted(self._databases)

    def require_database(self, db: str) -> None:
        if db not in self._databases:
            raise EmulatorError(1049, f"Unknown database '{db}'", "42000")

    def tables(self, db: str) -> list[str]:
        with self.lock:
            self.require_database(db)
            return sorted(name for (d, name) in self._metas if d == db)

    def create_table(self, meta: TableMeta, if_not_exists: bool = False) -> None:
        with self.lock:
            self.require_database(meta.db)
            if (meta.db, meta.name) in self._metas:
                if if_not_exists:
                    return
                raise EmulatorError(1050, f"Table '{meta.name}' already exists", "42S01")
            meta.properties = {**table_properties(meta, self), **meta.properties}
            meta.properties.setdefault(FAST_SCHEMA_EVOLUTION, "true")
            meta.table_id = self.ledger.next_id("table_id", FIRST_TABLE_ID)
            columns = ", ".join(column_ddl(c) for c in meta.columns)
            self.con.begin()
            try:
                self.con.execute(f"CREATE TABLE {qualified(meta.db, meta.name)} ({columns})")
                self._save_meta(meta, insert=True)
                self.ledger.create_tablets(meta.db, meta.name, max(1, meta.buckets), meta.table_id)
                self.con.commit()
            except BaseException:
                self.con.rollback()
                raise
            self._metas[(meta.db, meta.name)] = meta

    def _save_meta(self, meta: TableMeta, insert: bool = False) -> None:
        payload = json.dumps(meta.to_dict())
        if insert:
            self.con.execute(
                f"INSERT INTO {SCHEMA}.tables (db, name, meta, create_time) VALUES (?, ?, ?, ?)",
                [meta.db, meta.name, payload, now()],
            )
        else:
            self.con.execute(
                f"UPDATE {SCHEMA}.tables SET meta = ? WHERE db = ? AND name = ?",
                [payload, meta.db, meta.name],
            )

    def table(self, db: str, name: str) -> TableMeta:
        with self.lock:
            self.advance_alter_jobs()
            self.require_database(db)
            meta = self._metas.get((db, name))
            if meta is None:
                raise EmulatorError(1051, f"Unknown table '{db}.{name}'", "42S02")
            return meta

    def table_sizes(self, tables: Sequence[tuple[str, str]]) -> dict[tuple[str, str], tuple[int, int, Any]]:
        """(rows, bytes, create time) of each of `tables` (db, name), as `stats()` and the catalog give them,
        for information_schema.tables: one catalog scan and one count per table asked for, not per table in
        the catalog (a lookup of 4 of 200 tables had cost a count of all 200, and a query per table for its
        create time)."""
        with self.lock:
            catalog = {
                (db, name): (int(nbytes or 0), created)
                for db, name, nbytes, created in self.con.execute(
                    f"SELECT db, name, bytes, create_time FROM {SCHEMA}.tables"
                ).fetchall()
            }
            sizes = {}
            for key in tables:
                if key not in catalog:
                    sizes[key] = (0, 0, None)
                    continue
                row = self.con.execute(f"SELECT count(*) FROM {qualified(*key)}").fetchone()
                sizes[key] = (int(row[0]) if row else 0, *catalog[key])
            return sizes

    # ------------------------------------------------------------------ data
    def insert_rows(
        self, db: str, table: str, columns: list[str], rows: list[tuple], user: str, label: str | None = None
    ) -> int:
        """`INSERT INTO ... [WITH LABEL l] VALUES/SELECT`: one transaction, one load job (type INSERT), one
        version; a label a live job holds raises LabelAlreadyExistsError (ledger.begin)."""
        with self.lock:
            meta = self.table(db, table)
            names = [self._column(meta, c).name for c in columns]
            txn_id, _ = self.ledger.begin(db, label, table, "INSERT", user)
            try:
                staged = self.stage_rows(meta, names, rows)
                loaded = self.commit_staged(txn_id, meta, staged, names, scan_rows=len(rows))
            except BaseException as exc:
                self.abort(txn_id, str(exc))
                raise
            finally:
                self.con.execute("DROP TABLE IF EXISTS __insert_stage")
            return loaded

    def stage_rows(self, meta: TableMeta, names: list[str], rows: Sequence[tuple]) -> str:
        """Python rows into a temp table typed like the target (small INSERTs only; loads stage in bulk)."""
        types = {c.name: duckdb_type(c.type) for c in meta.columns}
        defs = ", ".join(f"{quote_ident(n)} {types[n]}" for n in names)
        self.con.execute(f"CREATE OR REPLACE TEMP TABLE __insert_stage ({defs}, {SEQ_COLUMN} BIGINT)")
        if rows:
            marks = ", ".join("?" for _ in range(len(names) + 1))
            try:
                self.con.executemany(
                    f"INSERT INTO __insert_stage VALUES ({marks})", [[*row, i] for i, row in enumerate(rows)]
                )
            except duckdb.Error as exc:
                raise EmulatorError(1064, f"Insert has filtered data in strict mode: {exc}") from exc
        return "__insert_stage"

    def delete_where(self, db: str, table: str, where_duckdb_sql: str, user: str) -> int:
        """`DELETE FROM ... WHERE`: one transaction and one version (not a load job)."""
        with self.lock:
            meta = self.table(db, table)
            self.ledger.check_versions(db, table, self.tablet_max_versions)
            self.con.begin()
            try:
                cursor = self.con.execute(f"DELETE FROM {qualified(db, meta.name)} WHERE {where_duckdb_sql}")
                deleted = cursor.fetchone()
                self.ledger.publish_version(db, table, 0, counts_as_load=False)
                self.con.commit()
            except BaseException:
                self.con.rollback()
                raise
            return int(deleted[0]) if deleted else 0

    def query(self, duckdb_sql: str, params: Sequence[Any] = ()) -> tuple[list[str], list[tuple]]:
        with self.lock:
            cursor = self.con.execute(duckdb_sql, list(params))
            names = [d[0] for d in cursor.description or []]
            return names, cursor.fetchall() if cursor.description else []

    # ------------------------------------------------------------------ load jobs (used by the HTTP side)
    def begin_load(
        self, db: str, label: str | None, table: str, load_type: str, user: str
    ) -> tuple[int, str]:
        """A new job (txn) for `label`; raises LabelAlreadyExistsError when a live job holds it."""
        with self.lock:
            self.table(db, table)
            return self.ledger.begin(db, label, table, load_type, user)

    def begin_multi_table_load(self, db: str, label: str, user: str) -> int:
        """A new job for a transaction not bound to a table yet (a multi-table transaction's begin names none;
        its tables are recorded as its loads arrive); raises LabelAlreadyExistsError as begin_load does."""
        with self.lock:
            self.require_database(db)
            return self.ledger.begin(db, label, "", "STREAM", user)[0]

    def commit_staged(
        self,
        txn_id: int,
        meta: TableMeta,
        staged: str,
        columns: list[str],
        *,
        scan_rows: int,
        filtered_rows: int = 0,
        unselected_rows: int = 0,
        load_bytes: int = 0,
        merge_condition: str | None = None,
        partial_update: bool = False,
        tracking_url: str | None = None,
    ) -> int:
        """Apply a staged relation (target-typed `columns`, optional `__op`, `__seq`) as ONE version, atomically.

        The caller holds `lock` from staging to here. Returns the rows written (deletes included, as
        StarRocks counts them in NumberLoadedRows). Raises EmulatorError (Too many versions) before writing.
        """
        part = StagedPart(meta, staged, columns, merge_condition, partial_update, load_bytes)
        return self.commit_staged_parts(
            txn_id,
            [part],
            scan_rows=scan_rows,
            filtered_rows=filtered_rows,
            unselected_rows=unselected_rows,
            tracking_url=tracking_url,
        )

    def commit_staged_parts(
        self,
        txn_id: int,
        parts: Sequence[StagedPart],
        *,
        scan_rows: int,
        filtered_rows: int = 0,
        unselected_rows: int = 0,
        tracking_url: str | None = None,
    ) -> int:
        """Apply one transaction's staged relations, one per table, as ONE new version on each of those tables,
        atomically: one DuckDB transaction under the lock, so a query sees all of them or none (a multi-table
        transaction of the transaction interface, StarRocks 4.0, is one `TransactionState` over several
        tables: fe `StreamLoadMultiStmtTask.commitTxn` -> `TransactionStmtExecutor.commitStmt`). Raises
        EmulatorError (Too many versions) before writing anything."""

        def writer(part: StagedPart) -> _TableWrite:
            def write(con: duckdb.DuckDBPyConnection) -> int:
                return apply_staged(
                    con,
                    part.meta,
                    part.staged,
                    part.columns,
                    part.merge_condition,
                    part.partial_update,
                    self.primary_key_limit_size,
                )

            return _TableWrite(part.meta, part.load_bytes, write)

        return self._commit_version(
            txn_id,
            [writer(part) for part in parts],
            scan_rows=scan_rows,
            filtered_rows=filtered_rows,
            unselected_rows=unselected_rows,
            tracking_url=tracking_url,
        )

    def commit_appended(self, txn_id: int, meta: TableMeta, insert_sql: str, *, load_bytes: int) -> int:
        """Run `insert_sql`, one INSERT that appends every row a load has, as ONE version, atomically.

        For loads whose rows are all loaded (be/stream_load.py `appending_insert_sql`): the INSERT fails if
        any row is not, and then nothing is written, the job is left as it was, and the error is raised.
        Returns the rows written, which are also the rows scanned.
        """

        def write(con: duckdb.DuckDBPyConnection) -> int:
            row = con.execute(insert_sql).fetchone()
            return int(row[0]) if row else 0

        return self._commit_version(txn_id, [_TableWrite(meta, load_bytes, write)], scan_rows=None)

    def _commit_version(
        self,
        txn_id: int,
        writes: Sequence[_TableWrite],
        *,
        scan_rows: int | None,
        filtered_rows: int = 0,
        unselected_rows: int = 0,
        tracking_url: str | None = None,
    ) -> int:
        """Run each table's write and publish one version on each, in one DuckDB transaction; the job becomes
        VISIBLE with its counts (`scan_rows` None: the rows written)."""
        started = time.perf_counter()
        with self.lock:
            for table in writes:
                self.ledger.check_versions(table.meta.db, table.meta.name, self.tablet_max_versions)
            self.con.begin()
            try:
                loaded = 0
                for table in writes:
                    loaded += table.write(self.con)
                    self.ledger.publish_version(
                        table.meta.db, table.meta.name, table.load_bytes, counts_as_load=True
                    )
                self.ledger.set_state(
                    txn_id,
                    "VISIBLE",
                    scan_rows=loaded if scan_rows is None else scan_rows,
                    filtered_rows=filtered_rows,
                    unselected_rows=unselected_rows,
                    sink_rows=loaded,
                    load_bytes=sum(table.load_bytes for table in writes),
                    tracking_url=tracking_url,
                )
                self.con.commit()
            except BaseException:
                self.con.rollback()
                raise
            self._ingest_rows += loaded
            self._ingest_seconds += time.perf_counter() - started
            return loaded

    def abort(self, txn_id: int, error_msg: str, **fields: Any) -> None:
        with self.lock:
            self.ledger.set_state(txn_id, "ABORTED", error_msg=error_msg[:1024], **fields)

    def set_job_state(self, txn_id: int, state: str, **fields: Any) -> None:
        with self.lock:
            self.ledger.set_state(txn_id, state, **fields)

    def job(self, db: str, label: str) -> dict[str, Any] | None:
        with self.lock:
            return self.ledger.find_label(db, label)

    def job_by_txn(self, txn_id: int) -> dict[str, Any] | None:
        with self.lock:
            return self.ledger.job(txn_id)

    def label_state(self, db: str, label: str) -> str:
        """get_load_state: UNKNOWN, PREPARE, PREPARED, COMMITTED, VISIBLE or ABORTED."""
        job = self.job(db, label)
        return "UNKNOWN" if job is None else str(job["state"])

    def note_ingest(self, rows: int, seconds: float) -> None:
        """The HTTP side adds parse/stage time to the ingest rate it reports."""
        self._ingest_seconds += seconds

    # ------------------------------------------------------------------ versions
    def alter_job_rows(self, db: str) -> list[tuple]:
        """Rows of SHOW ALTER TABLE COLUMN FROM db (alter_jobs.TITLE_NAMES)."""
        with self.lock:
            self.advance_alter_jobs()
            self.require_database(db)
            return self.alter_jobs.rows(db)

    def too_many_versions_error(self, db: str, table: str) -> EmulatorError:
        """The error a load gets past tablet_max_versions (fault `too_many_versions` uses it on demand)."""
        with self.lock:
            tablets = self.ledger.tablets(db, table) if (db, table) in self._metas else []
        tablet_id = tablets[0][0] if tablets else 10001
        count = max([t[2] for t in tablets] + [self.tablet_max_versions + 1])
        return EmulatorError(
            1064, too_many_versions_message(table, tablet_id, count, self.tablet_max_versions)
        )

    def compact(self, max_merged: int | None = None) -> int:
        with self.lock:
            return self.ledger.compact(max_merged)

    def table_id(self, db: str, table: str) -> int | None:
        with self.lock:
            meta = self._metas.get((db, table))
            return meta.table_id or None if meta is not None else None

    def tablet_infos(self, table_id: int | None = None) -> list[dict]:
        """Tablets as information_schema.be_tablets needs them (sql/be_system_tables.py)."""
        with self.lock:
            infos = self.ledger.tablet_infos(table_id)
            counts: dict[tuple[str, str], int] = {}
            for info in infos:
                key = (info["db"], info["table"])
                counts[key] = counts.get(key, 0) + 1
            rows: dict[tuple[str, str], int] = {}
            for key in counts:
                row = self.con.execute(f"SELECT count(*) FROM {qualified(*key)}").fetchone()
                rows[key] = int(row[0]) if row else 0
        for info in infos:
            key = (info["db"], info["table"])
            info["rows"] = rows[key] // counts[key]
            info["data_size"] = int(info["bytes"] or 0) // counts[key]
            info["model"] = self._metas[key].model if key in self._metas else "DUPLICATE"
        return infos

    def _compaction_loop(self, interval: float) -> None:
        """Background compaction, a model of StarRocks' shared-nothing compaction: every `interval` seconds
        (the BE's compaction check interval, `cumulative_compaction_check_interval_seconds`) each tablet's
        rowsets are merged, which lowers its version count (`be_tablets.NUM_VERSION`, the count that
        `tablet_max_versions` bounds). With `compaction_versions_per_second` unset a round merges everything into
        one rowset; with it set, a tablet's count falls by at most that many versions per second, which is how
        slow compaction looks from outside. `max_compaction_concurrency` 0 stops it (StarRocks: "`0` indicates
        disabling compaction", BE_configuration.md). Docs: https://docs.starrocks.io/docs/administration/management/BE_configuration/
        (compaction section). Simpler than StarRocks: no cumulative/base split, no `min_cumulative_compaction_
        num_singleton_deltas` threshold, no size tiers, every tablet compacts at the same rate regardless of the
        other tablets (StarRocks shares a thread pool), and merging is instant within a round.
        """
        last = time.monotonic()
        carry = 0.0
        while not self._stop.wait(interval):
            now_ = time.monotonic()
            elapsed, last = now_ - last, now_
            if self.max_compaction_concurrency == 0:
                carry = 0.0
                continue
            rate = self.compaction_versions_per_second
            budget: int | None = None
            if rate is not None:
                carry += rate * elapsed
                budget, carry = int(carry), carry - int(carry)
            try:
                merged = self.compact(budget)
                if merged:
                    log.info("compaction merged versions on %d tablets", merged)
            except duckdb.Error:  # closed during shutdown
                return

    # ------------------------------------------------------------------ users and privileges
    def authenticate(self, user: str, password: str) -> bool:
        with self.lock:
            return self.privileges.authenticate(user, password)

    def password_hash(self, user: str) -> str | None:
        """Hex SHA1(SHA1(password)) as mysql_native_password stores it ("" for an empty password, None if unknown)."""
        with self.lock:
            password = self.privileges.password(user)
        if password is None:
            return None
        if password == "":
            return ""
        return hashlib.sha1(hashlib.sha1(password.encode()).digest()).hexdigest()

    def create_user(self, user: str, password: str) -> None:
        with self.lock:
            self.privileges.create_user(user, password)

    def grant(self, user: str, privileges: list[str], db: str | None, table: str | None) -> None:
        with self.lock:
            self.privileges.grant(user, privileges, db, table)

    def has_privilege(self, user: str, privilege: str, db: str | None, table: str | None) -> bool:
        with self.lock:
            return self.privileges.has(user, privilege, db, table)

    def check_privilege(self, user: str, privilege: str, db: str, table: str | None) -> None:
        with self.lock:
            self.privileges.check(user, privilege, db, table)

    # ------------------------------------------------------------------ observability
    def loads(self) -> list[dict]:
        """Rows of information_schema.loads (see ledger.information_schema_loads)."""
        with self.lock:
            return information_schema_loads(self.ledger.jobs())

    def stats(self) -> dict:
        with self.lock:
            tables = self.ledger.table_stats()
            for key, entry in tables.items():
                db, name = key.split(".", 1)
                meta = self._metas.get((db, name))
                row = (
                    self.con.execute(f"SELECT count(*) FROM {qualified(db, name)}").fetchone()
                    if meta
                    else None
                )
                entry["rows"] = int(row[0]) if row else 0
            totals = self.ledger.load_totals()
            commit_times = self.ledger.commit_times()
        for key, entry in tables.items():
            entry["load_commit_times"] = commit_times.get(key, [])
        rate = self._ingest_rows / self._ingest_seconds if self._ingest_seconds else 0.0
        return {
            "tables": tables,
            "loads": totals,
            "ingest_rows_per_s": round(rate, 1),
            "recycle_bin": self.recycle_bin_stats(),
        }

    def run_in_transaction(self, fn: Callable[[duckdb.DuckDBPyConnection], Any]) -> Any:
        """Escape hatch for the front ends: `fn(con)` inside one DuckDB transaction under the lock."""
        with self.lock:
            self.con.begin()
            try:
                result = fn(self.con)
                self.con.commit()
                return result
            except BaseException:
                self.con.rollback()
                raise
