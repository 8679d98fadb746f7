"""Schema changes of the emulator's tables: ADD / DROP / MODIFY COLUMN as jobs, RENAME, SWAP WITH, TRUNCATE.

StarRocks semantics followed (docs ALTER_TABLE.md, fe/.../alter/SchemaChangeHandler.java, SchemaChangeJobV2.java):
one `ALTER TABLE` with column clauses is one schema change job (alter_jobs.py) checked at once (a refused clause
fails the statement and changes nothing), applied when the job finishes; with fast schema evolution ADD/DROP
COLUMN finish at once. Rules: ADD COLUMN may place the column AFTER another; a key column cannot be dropped;
MODIFY COLUMN follows catalog/Column.checkSchemaChangeAllowed: `ColumnType.isSchemaChangeAllowed` (the type
matrix below), "Can not change from nullable to non-nullable", "Can not change default value", "Cannot shorten
string length"; a value that does not convert cancels the job. While a job runs, every ALTER of the table is
refused (alter_jobs.in_progress_error). `ALTER TABLE a SWAP WITH b` exchanges two tables atomically; TRUNCATE
replaces the partitions, so the table gets new tablets at version 1. `SchemaChanges` is a mixin of `Engine` (it
uses the engine's lock, DuckDB connection, catalog, ledger and alter jobs).
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

from starrocks_emulator.storage.alter_jobs import (
    CANCELLED,
    FINISHED,
    FIRST_JOB_ID,
    AlterJob,
    AlterJobs,
    in_progress_error,
)
from starrocks_emulator.storage.catalog import (
    Column,
    EmulatorError,
    TableMeta,
    duckdb_type,
    parse_type,
    quote_ident,
    quote_literal,
    varchar_length,
)
from starrocks_emulator.storage.ledger import FIRST_TXN_ID, SCHEMA

if TYPE_CHECKING:
    import duckdb

    from starrocks_emulator.storage.ledger import Ledger
    from starrocks_emulator.topology import Topology

FAST_SCHEMA_EVOLUTION = "fast_schema_evolution"
TABLE_GONE = "Table or database does not exist"
_NOW_DEFAULTS = ("CURRENT_TIMESTAMP", "NOW()")

# catalog/ColumnType.schemaChangeMatrix: from -> the types a MODIFY COLUMN may turn it into (same type always).
_INTEGERS = ("TINYINT", "SMALLINT", "INT", "BIGINT", "LARGEINT")
_MATRIX: dict[str, set[str]] = {
    "TINYINT": {"SMALLINT", "INT", "BIGINT", "LARGEINT", "DOUBLE", "VARCHAR"},
    "SMALLINT": {"INT", "BIGINT", "LARGEINT", "DOUBLE", "VARCHAR"},
    "INT": {"BIGINT", "LARGEINT", "DOUBLE", "DATE", "VARCHAR"},
    "BIGINT": {"LARGEINT", "DOUBLE", "VARCHAR"},
    "LARGEINT": {"VARCHAR"},
    "FLOAT": {"DOUBLE", "VARCHAR"},
    "DOUBLE": {"VARCHAR"},
    "CHAR": {"VARCHAR", "CHAR"},
    "JSON": {"VARCHAR"},
    "VARCHAR": {"JSON", *_INTEGERS, "FLOAT", "DOUBLE", "DATE", "DECIMAL"},
    "DATETIME": {"DATE"},
    "DATE": {"DATETIME"},
}
_ALIASES = {"INTEGER": "INT", "BOOL": "BOOLEAN", "STRING": "VARCHAR", "TEXT": "VARCHAR"}


def qualified(db: str, table: str) -> str:
    return f"{quote_ident(db)}.{quote_ident(table)}"


def default_sql(column: Column) -> str | None:
    """The DuckDB expression of a column's DEFAULT (None without one)."""
    if column.default is None:
        return None
    if column.default.upper() in _NOW_DEFAULTS:
        return "current_localtimestamp()"
    return f"CAST({quote_literal(column.default)} AS {duckdb_type(column.type)})"


def column_ddl(column: Column) -> str:
    parts = [quote_ident(column.name), duckdb_type(column.type)]
    default = default_sql(column)
    if default is not None:
        parts.append(f"DEFAULT {default}")
    if not column.nullable:
        parts.append("NOT NULL")
    return " ".join(parts)


def _base(sr_type: str) -> str:
    base = parse_type(sr_type)[0]
    return "DECIMAL" if base.startswith("DECIMAL") else _ALIASES.get(base, base)


def check_modify(old: Column, new: Column) -> None:
    """catalog/Column.checkSchemaChangeAllowed, wording copied; raises EmulatorError (a DdlException: 1064)."""
    old_base, new_base = _base(old.type), _base(new.type)
    allowed = old_base == new_base or new_base in _MATRIX.get(old_base, set())
    if old_base == "DECIMAL" or new_base == "DECIMAL":
        allowed = _decimal_change_allowed(old.type, new.type, old_base, new_base)
    if not allowed:
        raise EmulatorError(1064, f"Can not change {old.type} to {new.type}")
    if old.nullable and not new.nullable:
        raise EmulatorError(1064, "Can not change from nullable to non-nullable")
    if old.default != new.default:
        raise EmulatorError(1064, "Can not change default value")
    old_len, new_len = varchar_length(old.type), varchar_length(new.type)
    if old_len is not None and new_len is not None and old_base in ("VARCHAR", "CHAR") and new_len < old_len:
        raise EmulatorError(1064, "Cannot shorten string length")


def _decimal_change_allowed(old: str, new: str, old_base: str, new_base: str) -> bool:
    """ColumnType.isSchemaChangeAllowedInvolvingDecimalV3: to VARCHAR if long enough (precision + sign and point;
    StarRocks' exact field length is not verified), to DECIMAL when scale and integer digits both fit, and
    VARCHAR -> DECIMAL."""
    if old_base == "VARCHAR":
        return True
    _, precision, scale = parse_type(old)
    precision, scale = precision or 38, scale or 0
    if new_base == "VARCHAR":
        return (varchar_length(new) or 0) >= precision + 2
    if new_base == "DECIMAL":
        _, new_precision, new_scale = parse_type(new)
        new_precision, new_scale = new_precision or 38, new_scale or 0
        return scale <= new_scale and precision - scale <= new_precision - new_scale
    return False


@dataclass(frozen=True)
class ColumnChange:
    """One clause of `ALTER TABLE`: ("add", column, after), ("drop", name) or ("modify", column)."""

    op: str
    column: Column | None = None
    name: str = ""
    after: str | None = None


class SchemaChanges:
    lock: threading.RLock
    con: duckdb.DuckDBPyConnection
    ledger: Ledger
    alter_jobs: AlterJobs
    topology: Topology
    alter_step_seconds: float
    _metas: dict[tuple[str, str], TableMeta]

    def table(self, db: str, name: str) -> TableMeta:  # provided by Engine
        raise NotImplementedError

    def _save_meta(self, meta: TableMeta, insert: bool = False) -> None:  # provided by Engine
        raise NotImplementedError

    def _reload_catalog(self) -> None:  # provided by Engine
        raise NotImplementedError

    @staticmethod
    def _column(meta: TableMeta, name: str) -> Column:
        column = meta.column(name)
        if column is None:
            raise EmulatorError(1054, f"Unknown column '{name}' in '{meta.name}'", "42S22")
        return column

    def _require_normal(self, meta: TableMeta) -> None:
        """OlapTable state must be NORMAL for any ALTER (InvalidOlapTableStateException otherwise)."""
        if self.alter_jobs.unfinished(meta.db, meta.name) is not None:
            raise in_progress_error(meta.name)

    # ------------------------------------------------------------------ column changes as jobs
    def alter_columns(self, db: str, table: str, changes: list[ColumnChange]) -> AlterJob:
        """Check every clause, then start one job (finished at once for fast schema evolution)."""
        with self.lock:
            meta = self.table(db, table)
            self._require_normal(meta)
            columns, modified = self._planned_columns(meta, changes)
            now = time.time()
            job = AlterJob(
                job_id=self.ledger.next_id("alter_job_id", FIRST_JOB_ID, 2),
                db=db,
                table=meta.name,
                index_id=0,
                origin_index_id=self._index_id(meta),
                schema_version=self.alter_jobs.versions(db, meta.name) + 1,
                transaction_id=self.ledger.next_id("txn_id", FIRST_TXN_ID),
                created=now,
                step_seconds=self.alter_step_seconds,
                tablets=max(1, meta.buckets),
                columns=[asdict(c) for c in columns],
                modified=modified,
            )
            job.index_id = job.job_id + 1
            self.alter_jobs.add(job)
            fast = all(c.op in ("add", "drop") for c in changes)
            if fast and meta.properties.get(FAST_SCHEMA_EVOLUTION, "true").lower() == "true":
                self._rewrite_columns(meta, columns, [])
                self.alter_jobs.end(job, FINISHED)
            return job

    def _planned_columns(
        self, meta: TableMeta, changes: list[ColumnChange]
    ) -> tuple[list[Column], list[str]]:
        columns, modified = list(meta.columns), []

        def find(name: str) -> int:
            for i, column in enumerate(columns):
                if column.name.lower() == name.lower():
                    return i
            raise EmulatorError(1054, f"Unknown column '{name}' in '{meta.name}'", "42S22")

        for change in changes:
            if change.op == "add":
                assert change.column is not None
                if any(c.name.lower() == change.column.name.lower() for c in columns):
                    raise EmulatorError(1060, f"Duplicate column name '{change.column.name}'", "42S21")
                position = find(change.after) + 1 if change.after is not None else len(columns)
                columns.insert(position, change.column)
            elif change.op == "drop":
                i = find(change.name)
                if columns[i].name in meta.key_columns:
                    raise EmulatorError(
                        1064, f"Can not drop key column in primary data model table: {change.name}"
                    )
                del columns[i]
            else:
                assert change.column is not None
                i = find(change.column.name)
                old = columns[i]
                check_modify(old, change.column)
                new = change.column
                columns[i] = Column(old.name, new.type, new.nullable, new.default, new.comment or old.comment)
                if duckdb_type(old.type) != duckdb_type(new.type) or varchar_length(
                    old.type
                ) != varchar_length(new.type):
                    modified.append(old.name)
        return columns, modified

    def _index_id(self, meta: TableMeta) -> int:
        tablets = self.ledger.tablets(meta.db, meta.name)
        return (tablets[0][0] - 1) if tablets else 10000

    def advance_alter_jobs(self) -> None:
        """Finish (or cancel) the jobs whose scheduler rounds are over: the new schema lands only now."""
        with self.lock:
            for job in self.alter_jobs.due():
                meta = self._metas.get((job.db, job.table))
                if meta is None:
                    self.alter_jobs.end(job, CANCELLED, TABLE_GONE)
                    continue
                columns = [Column(**c) for c in job.columns]
                failure = self._conversion_failure(meta, columns, job.modified)
                if failure:
                    self.alter_jobs.end(job, CANCELLED, failure)
                    continue
                self._rewrite_columns(meta, columns, job.modified)
                self.alter_jobs.end(job, FINISHED)

    def cancel_alter_job(self, db: str, table: str) -> None:
        """A dropped table's unfinished job ends CANCELLED ("Table or database does not exist", the message
        SchemaChangeJobV2 cancels with when its table is gone)."""
        with self.lock:
            job = self.alter_jobs.unfinished(db, table)
            if job is not None:
                self.alter_jobs.end(job, CANCELLED, TABLE_GONE)

    def _conversion_failure(self, meta: TableMeta, columns: list[Column], modified: list[str]) -> str:
        """The BE's conversion of a MODIFY: a stored value the new type cannot hold fails the task, and after
        three tries the FE cancels the job ("schema change task failed after try three times: " + the task's
        error, SchemaChangeJobV2.runRunningJob); the text after the prefix is the emulator's, not verified."""
        by_name = {c.name: c for c in columns}
        for name in modified:
            old, new = self._column(meta, name), by_name[name]
            source = quote_ident(name)
            length = varchar_length(new.type)
            if length is not None:
                bad = f"strlen(CAST({source} AS VARCHAR)) > {length}"
            else:
                bad = f"TRY_CAST({source} AS {duckdb_type(new.type)}) IS NULL"
            row = self.con.execute(
                f"SELECT CAST({source} AS VARCHAR) FROM {qualified(meta.db, meta.name)} "
                f"WHERE {source} IS NOT NULL AND {bad} LIMIT 1"
            ).fetchone()
            if row is not None:
                backend = 10000 + (self.topology.backends[0].id if self.topology.backends else 1)
                return (
                    "schema change task failed after try three times: task type: ALTER, status_code: "
                    f"RUNTIME_ERROR, failed to convert value '{row[0]}' of column {name} from {old.type} to "
                    f"{new.type}, backendId: {backend}"
                )
        return ""

    def _rewrite_columns(self, meta: TableMeta, columns: list[Column], converted: list[str]) -> None:
        """Rebuild the DuckDB table with `columns` (DuckDB has no ADD COLUMN AFTER): kept columns copied (cast
        when `converted`), new ones filled with their default or NULL."""
        target = qualified(meta.db, meta.name)
        old_names = {c.name for c in meta.columns}
        select = []
        for c in columns:
            if c.name in converted:
                select.append(f"CAST({quote_ident(c.name)} AS {duckdb_type(c.type)})")
            elif c.name in old_names:
                select.append(quote_ident(c.name))
            else:
                select.append(default_sql(c) or f"NULL::{duckdb_type(c.type)}")
        tmp = quote_ident(f"__schema_change_{meta.name}")
        self.con.begin()
        try:
            self.con.execute(
                f"CREATE TABLE {quote_ident(meta.db)}.{tmp} ({', '.join(map(column_ddl, columns))})"
            )
            self.con.execute(
                f"INSERT INTO {quote_ident(meta.db)}.{tmp} SELECT {', '.join(select)} FROM {target}"
            )
            self.con.execute(f"DROP TABLE {target}")
            self.con.execute(f"ALTER TABLE {quote_ident(meta.db)}.{tmp} RENAME TO {quote_ident(meta.name)}")
            meta.columns = columns
            self._save_meta(meta)
            self.con.commit()
        except BaseException:
            self.con.rollback()
            self._reload_catalog()
            raise

    # ------------------------------------------------------------------ whole tables
    def rename_table(self, db: str, old: str, new: str) -> None:
        with self.lock:
            meta = self.table(db, old)
            self._require_normal(meta)
            if (db, new) in self._metas:
                raise EmulatorError(1050, f"Table '{new}' already exists", "42S01")
            self.con.begin()
            try:
                self._rename(db, old, new)
                self.con.commit()
            except BaseException:
                self.con.rollback()
                raise
            del self._metas[(db, old)]
            meta.name = new
            self._metas[(db, new)] = meta

    def _rename(self, db: str, old: str, new: str) -> None:
        self.con.execute(f"ALTER TABLE {qualified(db, old)} RENAME TO {quote_ident(new)}")
        for table in ("tables", "tablets"):
            column = "name" if table == "tables" else "tbl"
            self.con.execute(
                f"UPDATE {SCHEMA}.{table} SET {column} = ? WHERE db = ? AND {column} = ?", [new, db, old]
            )
        meta = self._metas[(db, old)]
        self.con.execute(
            f"UPDATE {SCHEMA}.tables SET meta = ? WHERE db = ? AND name = ?",
            [json.dumps({**meta.to_dict(), "name": new}), db, new],
        )

    def swap_tables(self, db: str, a: str, b: str) -> None:
        """`ALTER TABLE a SWAP WITH b`: atomic exchange of names (data, schema and tablets move together)."""
        with self.lock:
            meta_a, meta_b = self.table(db, a), self.table(db, b)
            self._require_normal(meta_a)
            self._require_normal(meta_b)
            tmp = f"__swap_{a}"
            self.con.begin()
            try:
                self._metas[(db, tmp)] = meta_a
                self._rename(db, a, tmp)
                self._rename(db, b, a)
                self._metas[(db, a)] = meta_b
                self._rename(db, tmp, b)
                self.con.commit()
            except BaseException:
                self.con.rollback()
                self._metas.pop((db, tmp), None)
                self._metas[(db, a)], self._metas[(db, b)] = meta_a, meta_b
                raise
            self._metas.pop((db, tmp), None)
            meta_a.name, meta_b.name = b, a
            self._metas[(db, a)], self._metas[(db, b)] = meta_b, meta_a

    def truncate_table(self, db: str, name: str) -> None:
        """TRUNCATE replaces the partitions with new empty ones: new tablets, version 1."""
        with self.lock:
            meta = self.table(db, name)
            self.con.begin()
            try:
                self.con.execute(f"DELETE FROM {qualified(db, name)}")
                self.ledger.drop_tablets(db, name)
                self.ledger.create_tablets(db, name, max(1, meta.buckets), meta.table_id)
                self.con.commit()
            except BaseException:
                self.con.rollback()
                raise
