"""`information_schema` of the emulator: StarRocks' system tables built from the engine's catalog.

Contract: `InformationSchema(engine).query(select)` answers any SELECT that reads only information_schema
tables (filters, projections, joins, ORDER BY — whatever DuckDB can do) by materialising the tables it reads in a
private in-memory DuckDB and running the translated query there. Column names and order copy StarRocks' fe
definitions (fe/fe-core/src/main/java/com/starrocks/catalog/system/information/*SystemTable.java) and values copy
fe/.../service/InformationSchemaDataSource.java (TABLE_MODEL `PRIMARY_KEYS`/`DUP_KEYS`, backticked key lists).
Tables: schemata, tables, tables_config, columns, loads, views, materialized_views (the last two empty), and
be_tablets, be_configs (be_system_tables.py, which also checks their privileges for the querying user).
Why a private DuckDB: these tables are small and derived; building them per query keeps them always current and
keeps the engine's connection (and its lock) out of metadata queries.
"""

from __future__ import annotations

import json
import threading
from typing import Any

import duckdb
from sqlglot import exp

from starrocks_emulator.sql import be_system_tables
from starrocks_emulator.sql.ddl import show_type
from starrocks_emulator.sql.translate import INFORMATION_SCHEMA, analysis_error, to_duckdb, unknown_table
from starrocks_emulator.storage.catalog import Column, TableMeta

_V = "VARCHAR"
_B = "BIGINT"
_T = "TIMESTAMP"
# name -> [(column, duckdb type)], StarRocks' column order.
SCHEMAS: dict[str, list[tuple[str, str]]] = {
    "schemata": [
        ("CATALOG_NAME", _V),
        ("SCHEMA_NAME", _V),
        ("DEFAULT_CHARACTER_SET_NAME", _V),
        ("DEFAULT_COLLATION_NAME", _V),
        ("SQL_PATH", _V),
    ],
    "tables": [
        ("TABLE_CATALOG", _V),
        ("TABLE_SCHEMA", _V),
        ("TABLE_NAME", _V),
        ("TABLE_TYPE", _V),
        ("ENGINE", _V),
        ("VERSION", _B),
        ("ROW_FORMAT", _V),
        ("TABLE_ROWS", _B),
        ("AVG_ROW_LENGTH", _B),
        ("DATA_LENGTH", _B),
        ("MAX_DATA_LENGTH", _B),
        ("INDEX_LENGTH", _B),
        ("DATA_FREE", _B),
        ("AUTO_INCREMENT", _B),
        ("CREATE_TIME", _T),
        ("UPDATE_TIME", _T),
        ("CHECK_TIME", _T),
        ("TABLE_COLLATION", _V),
        ("CHECKSUM", _B),
        ("CREATE_OPTIONS", _V),
        ("TABLE_COMMENT", _V),
    ],
    "tables_config": [
        ("TABLE_SCHEMA", _V),
        ("TABLE_NAME", _V),
        ("TABLE_ENGINE", _V),
        ("TABLE_MODEL", _V),
        ("PRIMARY_KEY", _V),
        ("PARTITION_KEY", _V),
        ("DISTRIBUTE_KEY", _V),
        ("DISTRIBUTE_TYPE", _V),
        ("DISTRIBUTE_BUCKET", "INTEGER"),
        ("SORT_KEY", _V),
        ("PROPERTIES", _V),
        ("TABLE_ID", _B),
    ],
    "columns": [
        ("TABLE_CATALOG", _V),
        ("TABLE_SCHEMA", _V),
        ("TABLE_NAME", _V),
        ("COLUMN_NAME", _V),
        ("ORDINAL_POSITION", _B),
        ("COLUMN_DEFAULT", _V),
        ("IS_NULLABLE", _V),
        ("DATA_TYPE", _V),
        ("CHARACTER_MAXIMUM_LENGTH", _B),
        ("CHARACTER_OCTET_LENGTH", _B),
        ("NUMERIC_PRECISION", _B),
        ("NUMERIC_SCALE", _B),
        ("DATETIME_PRECISION", _B),
        ("CHARACTER_SET_NAME", _V),
        ("COLLATION_NAME", _V),
        ("COLUMN_TYPE", _V),
        ("COLUMN_KEY", _V),
        ("EXTRA", _V),
        ("PRIVILEGES", _V),
        ("COLUMN_COMMENT", _V),
        ("COLUMN_SIZE", _B),
        ("DECIMAL_DIGITS", _B),
        ("GENERATION_EXPRESSION", _V),
        ("SRS_ID", _B),
    ],
    "loads": [
        ("ID", _B),
        ("LABEL", _V),
        ("PROFILE_ID", _V),
        ("DB_NAME", _V),
        ("TABLE_NAME", _V),
        ("USER", _V),
        ("WAREHOUSE", _V),
        ("STATE", _V),
        ("PROGRESS", _V),
        ("TYPE", _V),
        ("PRIORITY", _V),
        ("SCAN_ROWS", _B),
        ("SCAN_BYTES", _B),
        ("FILTERED_ROWS", _B),
        ("UNSELECTED_ROWS", _B),
        ("SINK_ROWS", _B),
        ("RUNTIME_DETAILS", _V),
        ("CREATE_TIME", _T),
        ("LOAD_START_TIME", _T),
        ("LOAD_COMMIT_TIME", _T),
        ("LOAD_FINISH_TIME", _T),
        ("PROPERTIES", _V),
        ("ERROR_MSG", _V),
        ("TRACKING_SQL", _V),
        ("REJECTED_RECORD_PATH", _V),
        ("JOB_ID", _B),
    ],
    "views": [
        ("TABLE_CATALOG", _V),
        ("TABLE_SCHEMA", _V),
        ("TABLE_NAME", _V),
        ("VIEW_DEFINITION", _V),
        ("CHECK_OPTION", _V),
        ("IS_UPDATABLE", _V),
        ("DEFINER", _V),
        ("SECURITY_TYPE", _V),
        ("CHARACTER_SET_CLIENT", _V),
        ("COLLATION_CONNECTION", _V),
    ],
    "materialized_views": [("TABLE_SCHEMA", _V), ("TABLE_NAME", _V), ("MATERIALIZED_VIEW_DEFINITION", _V)],
    **be_system_tables.SCHEMAS,
}
_TABLE_MODEL = {
    "PRIMARY": "PRIMARY_KEYS",
    "DUPLICATE": "DUP_KEYS",
    "UNIQUE": "UNIQUE_KEYS",
    "AGGREGATE": "AGG_KEYS",
}
_COLUMN_KEY = {"PRIMARY": "PRI", "DUPLICATE": "DUP", "UNIQUE": "UNI", "AGGREGATE": "AGG"}
_NUMERIC_PRECISION = {
    "TINYINT": 3,
    "SMALLINT": 5,
    "INT": 10,
    "BIGINT": 19,
    "LARGEINT": 39,
    "FLOAT": 12,
    "DOUBLE": 22,
}


def _backticked(names: list[str]) -> str:
    return ", ".join(f"`{n}`" for n in names)


def column_type_text(sr_type: str) -> str:
    """COLUMN_TYPE as StarRocks reports it (MySQL spelling; LARGEINT reads `bigint(20) unsigned`, which the
    `starrocks` SQLAlchemy dialect's reflection.py special-cases)."""
    if sr_type == "LARGEINT":
        return "bigint(20) unsigned"
    if sr_type.startswith("DECIMAL"):
        return sr_type.lower().replace(" ", "")
    return show_type(sr_type)


def column_row(meta: TableMeta, column: Column, position: int) -> tuple[Any, ...]:
    base = column.type.split("(")[0].split("<")[0]
    length = precision = scale = None
    if base in ("VARCHAR", "CHAR"):
        length = int(column.type.split("(")[1].rstrip(")"))
    elif base == "DECIMAL":
        precision, scale = (int(x) for x in column.type.split("(")[1].rstrip(")").split(","))
    elif base in _NUMERIC_PRECISION:
        precision, scale = _NUMERIC_PRECISION[base], 0
    key = _COLUMN_KEY[meta.model] if column.name in meta.key_columns else ""
    return (
        "def", meta.db, meta.name, column.name, position, column.default, "YES" if column.nullable else "NO",
        base.lower(), length, length, precision, scale, None, None, None, column_type_text(column.type), key, "",
        "select,insert,update,references", column.comment, length or precision, scale, None, None,
    )  # fmt: skip


class InformationSchema:
    """Builds StarRocks' information_schema tables from the engine and runs queries over them."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine
        self._con = duckdb.connect(":memory:")
        self._lock = threading.Lock()

    def _metas(self, only: dict[str, Any] | None = None) -> list[TableMeta]:
        """Tables' metadata, limited to `only` ({"TABLE_SCHEMA": {db, ...}, "TABLE_NAME": {name, ...}}) when the
        query's WHERE pins them: building every table's rows per query made one lookup cost O(tables in the
        catalog)."""
        only = only or {}
        metas = []
        for db in self.engine.databases():
            if "TABLE_SCHEMA" in only and db not in only["TABLE_SCHEMA"]:
                continue
            for name in self.engine.tables(db):
                if "TABLE_NAME" in only and name not in only["TABLE_NAME"]:
                    continue
                metas.append(self.engine.table(db, name))
        return metas

    def rows(
        self, table: str, only: dict[str, Any] | None = None, user: str | None = None
    ) -> list[tuple[Any, ...]]:
        """Current rows of one information_schema table (pre-filtered by `only`; the query filters again)."""
        if table in be_system_tables.SCHEMAS:
            return be_system_tables.rows(self.engine, table, user, only or {})
        if table == "schemata":
            return [
                ("def", db, "utf8", "utf8_general_ci", None)
                for db in [INFORMATION_SCHEMA, *self.engine.databases()]
            ]
        if table == "tables":
            metas = self._metas(only)
            sizes = self.engine.table_sizes([(meta.db, meta.name) for meta in metas])
            out = []
            for meta in metas:
                rows, size, created = sizes[(meta.db, meta.name)]
                out.append((
                    "def", meta.db, meta.name, "BASE TABLE", "StarRocks", None, None, rows,
                    size // rows if rows else 0, size, None, None, None, None, created, created, None,
                    "utf8_general_ci", None, None, meta.comment or "OLAP",
                ))  # fmt: skip
            return out
        if table == "tables_config":
            return [
                (
                    meta.db,
                    meta.name,
                    "OLAP",
                    _TABLE_MODEL[meta.model],
                    _backticked(meta.key_columns) if meta.model in ("PRIMARY", "UNIQUE") else "",
                    "",
                    _backticked(meta.distribution_columns),
                    meta.distribution,
                    meta.buckets,
                    _backticked(meta.key_columns),
                    json.dumps({"replication_num": "1", **meta.properties}),
                    meta.table_id or None,  # InformationSchemaDataSource: setTable_id(table.getId())
                )  # fmt: skip
                for meta in self._metas(only)
            ]
        if table == "columns":
            return [column_row(m, c, i + 1) for m in self._metas(only) for i, c in enumerate(m.columns)]
        if table == "loads":
            return [self._load_row(j) for j in self.engine.loads()]
        return []

    @staticmethod
    def _load_row(job: dict[str, Any]) -> tuple[Any, ...]:
        # The ledger's rows carry exactly this table's column names (storage/ledger.information_schema_loads).
        return tuple(job.get(name) for name, _ in SCHEMAS["loads"])

    def run_private(self, duckdb_sql: str) -> tuple[list[str], list[tuple[Any, ...]]]:
        """A SELECT that reads no table (`SELECT 1`, `SELECT now()`), kept off the engine's lock."""
        with self._lock:
            try:
                cursor = self._con.execute(duckdb_sql)
            except duckdb.Error as err:
                raise analysis_error(err) from err
            return [d[0] for d in cursor.description or []], cursor.fetchall()

    def query(
        self, select: exp.Expression, user: str | None = None
    ) -> tuple[list[str], list[tuple[Any, ...]]]:
        """Run a SELECT that reads information_schema tables only (as `user`, for the tables that check it)."""
        select = select.copy()
        wanted = set()
        for table in select.find_all(exp.Table):
            name = table.name.lower()
            if name not in SCHEMAS:
                raise unknown_table(INFORMATION_SCHEMA, table.name)
            wanted.add(name)
            table.set("this", exp.to_identifier(f"is_{name}", quoted=True))
            table.set("db", exp.to_identifier("main"))
            table.set("catalog", None)
        only = _pinned(select) if len(wanted) == 1 else {}
        sql = to_duckdb(select)
        with self._lock:
            for name in wanted:
                defs = ", ".join(f'"{col}" {typ}' for col, typ in SCHEMAS[name])
                self._con.execute(f'CREATE OR REPLACE TABLE main."is_{name}" ({defs})')
                rows = self.rows(name, only, user)
                if rows:
                    marks = ", ".join("?" for _ in SCHEMAS[name])
                    self._con.executemany(f'INSERT INTO main."is_{name}" VALUES ({marks})', rows)
            try:
                cursor = self._con.execute(sql)
            except duckdb.Error as err:
                raise analysis_error(err) from err
            names = [d[0] for d in cursor.description or []]
            return names, cursor.fetchall()


def _pinned(select: exp.Expression) -> dict[str, Any]:
    """`TABLE_SCHEMA = 'x'` / `TABLE_NAME IN ('y', 'z')` / `TABLE_ID = n` conditions that every row of the answer
    must meet (joined to the WHERE only through AND), so rows that fail them need not be built: the names as a
    set of the strings allowed, TABLE_ID as an int. A connector that looks up its streams' tables with one IN
    per sync start (destination_starrocks/truncate_resume.py) had made every table's rows per lookup."""
    where = select.args.get("where")
    if where is None:
        return {}
    out: dict[str, Any] = {}
    for condition in where.find_all(exp.EQ, exp.In):
        if not _joined_to_where(condition):
            continue
        if isinstance(condition, exp.In):
            column, values = condition.this, condition.expressions
            if condition.args.get("query") or condition.args.get("unnest") or condition.args.get("field"):
                continue
        else:
            column, literal = condition.left, condition.right
            if isinstance(column, exp.Literal) and isinstance(literal, exp.Column):
                column, literal = literal, column
            values = [literal]
        if not (
            isinstance(column, exp.Column) and values and all(isinstance(v, exp.Literal) for v in values)
        ):
            continue
        name = column.name.upper()
        if name in ("TABLE_SCHEMA", "TABLE_NAME") and all(v.is_string for v in values):
            out[name] = frozenset(v.this for v in values)
        elif name == "TABLE_ID" and isinstance(condition, exp.EQ) and values[0].is_int:
            out[name] = int(values[0].this)
    return out


def _joined_to_where(condition: exp.Expression) -> bool:
    parent = condition.parent
    while isinstance(parent, (exp.And, exp.Paren)):
        parent = parent.parent
    return isinstance(parent, exp.Where)
