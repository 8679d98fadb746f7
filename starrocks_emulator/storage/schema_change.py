"""Schema changes of the emulator's tables: ADD / DROP / MODIFY COLUMN, RENAME, SWAP WITH, TRUNCATE.

StarRocks semantics followed (https://docs.starrocks.io/docs/sql-reference/sql-statements/table_bucket_part_index/ALTER_TABLE/):
ADD COLUMN may place the column AFTER another; a key column cannot be dropped; MODIFY COLUMN only widens
(longer VARCHAR, wider integer, more DECIMAL precision; "Cannot shorten string length" otherwise);
`ALTER TABLE a SWAP WITH b` exchanges two tables atomically; TRUNCATE replaces the partitions, so the table
gets new tablets at version 1. `SchemaChanges` is a mixin of `Engine` (it uses the engine's lock, DuckDB
connection, catalog and ledger).
"""

from __future__ import annotations

import json
import threading
from typing import TYPE_CHECKING

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
from starrocks_emulator.storage.ledger import SCHEMA

if TYPE_CHECKING:
    import duckdb

    from starrocks_emulator.storage.ledger import Ledger


def qualified(db: str, table: str) -> str:
    return f"{quote_ident(db)}.{quote_ident(table)}"


def column_ddl(column: Column) -> str:
    parts = [quote_ident(column.name), duckdb_type(column.type)]
    if column.default is not None:
        if column.default.upper() in ("CURRENT_TIMESTAMP", "NOW()"):
            parts.append("DEFAULT current_localtimestamp()")
        else:
            parts.append(f"DEFAULT CAST({quote_literal(column.default)} AS {duckdb_type(column.type)})")
    if not column.nullable:
        parts.append("NOT NULL")
    return " ".join(parts)


_INT_ORDER = ["TINYINT", "SMALLINT", "INT", "INTEGER", "BIGINT", "LARGEINT"]


def _is_widening(old: str, new: str) -> bool:
    """True when every value of `old` fits `new` (the schema changes StarRocks allows without loss)."""
    old_base, old_a, old_b = parse_type(old)
    new_base, new_a, new_b = parse_type(new)
    old_len, new_len = varchar_length(old), varchar_length(new)
    if old_len is not None and new_len is not None:
        return new_len >= old_len
    if old_base in _INT_ORDER and new_base in _INT_ORDER:
        rank = {name: i for i, name in enumerate(_INT_ORDER)}
        rank["INTEGER"] = rank["INT"]
        return rank[new_base] >= rank[old_base]
    if old_base.startswith("DECIMAL") and new_base.startswith("DECIMAL"):
        return (new_b or 0) == (old_b or 0) and (new_a or 38) >= (old_a or 38)
    if (old_base, new_base) == ("FLOAT", "DOUBLE"):
        return True
    # Conversions StarRocks' ALTER TABLE page ("Modify the column type") also lists and the connector uses:
    # integers to DOUBLE, numbers to VARCHAR (the value's text), DATE to DATETIME (midnight).
    if old_base in _INT_ORDER and new_base == "DOUBLE":
        return True
    numeric = _INT_ORDER + ["FLOAT", "DOUBLE"]
    if new_len is not None and (old_base in numeric or old_base.startswith("DECIMAL")):
        return True
    if (old_base, new_base) == ("DATE", "DATETIME"):
        return True
    return duckdb_type(old) == duckdb_type(new)


class SchemaChanges:
    lock: threading.RLock
    con: duckdb.DuckDBPyConnection
    ledger: Ledger
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

    def add_column(self, db: str, table: str, column: Column, after: str | None = None) -> None:
        with self.lock:
            meta = self.table(db, table)
            if meta.column(column.name) is not None:
                raise EmulatorError(1060, f"Duplicate column name '{column.name}'", "42S21")
            columns = list(meta.columns)
            position = len(columns)
            if after is not None:
                anchor = meta.column(after)
                if anchor is None:
                    raise EmulatorError(1054, f"Unknown column '{after}' in '{table}'", "42S22")
                position = columns.index(anchor) + 1
            columns.insert(position, column)
            self._rewrite_columns(meta, columns, added=column)

    def drop_column(self, db: str, table: str, name: str) -> None:
        with self.lock:
            meta = self.table(db, table)
            column = meta.column(name)
            if column is None:
                raise EmulatorError(1054, f"Unknown column '{name}' in '{table}'", "42S22")
            if column.name in meta.key_columns:
                raise EmulatorError(1064, f"Can not drop key column in primary data model table: {name}")
            self._rewrite_columns(meta, [c for c in meta.columns if c is not column])

    def modify_column(self, db: str, table: str, column: Column) -> None:
        """`ALTER TABLE ... MODIFY COLUMN`: widening only (longer VARCHAR, wider integer, more DECIMAL precision).

        StarRocks refuses a narrowing schema change ("Cannot shorten string length", SchemaChangeHandler).
        """
        with self.lock:
            meta = self.table(db, table)
            old = self._column(meta, column.name)
            if not _is_widening(old.type, column.type):
                message = (
                    "Cannot shorten string length"
                    if old.type.upper().startswith(("VARCHAR", "CHAR"))
                    else (f"Can not change {old.type} to {column.type}")
                )
                raise EmulatorError(1064, message)
            self.con.begin()
            try:
                self.con.execute(
                    f"ALTER TABLE {qualified(db, meta.name)} ALTER COLUMN {quote_ident(old.name)} "
                    f"TYPE {duckdb_type(column.type)}"
                )
                meta.columns = [
                    Column(
                        old.name, column.type, column.nullable, column.default, column.comment or old.comment
                    )
                    if c is old
                    else c
                    for c in meta.columns
                ]
                self._save_meta(meta)
                self.con.commit()
            except BaseException:
                self.con.rollback()
                self._reload_catalog()
                raise

    def _rewrite_columns(self, meta: TableMeta, columns: list[Column], added: Column | None = None) -> None:
        """Schema change: rebuild the DuckDB table in the new column order (DuckDB has no ADD COLUMN AFTER)."""
        target = qualified(meta.db, meta.name)
        old_names = {c.name for c in meta.columns}
        select = ", ".join(
            quote_ident(c.name) if c.name in old_names else f"NULL::{duckdb_type(c.type)}" for c in columns
        )
        tmp = quote_ident(f"__schema_change_{meta.name}")
        self.con.begin()
        try:
            self.con.execute(
                f"CREATE TABLE {quote_ident(meta.db)}.{tmp} ({', '.join(map(column_ddl, columns))})"
            )
            self.con.execute(f"INSERT INTO {quote_ident(meta.db)}.{tmp} SELECT {select} FROM {target}")
            if added is not None and added.default is not None:
                self.con.execute(
                    f"UPDATE {quote_ident(meta.db)}.{tmp} SET {quote_ident(added.name)} = "
                    f"CAST({quote_literal(added.default)} AS {duckdb_type(added.type)})"
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

    def rename_table(self, db: str, old: str, new: str) -> None:
        with self.lock:
            meta = self.table(db, old)
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
                self.ledger.create_tablets(db, name, max(1, meta.buckets))
                self.con.commit()
            except BaseException:
                self.con.rollback()
                raise
