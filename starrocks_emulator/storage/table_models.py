"""How a staged batch of rows lands in a table, per StarRocks table model.

- Duplicate Key (and Aggregate, simplified): every row is appended.
- Primary Key / Unique Key: rows upsert by key; within one load the last row of a key wins; `__op` = 1 deletes
  the key (https://docs.starrocks.io/docs/loading/Load_to_Primary_Key_tables/ — "__op ... 0 UPSERT, 1 DELETE").
- `merge_condition` (Primary Key only): a new row replaces the stored row only when its condition column is
  greater than or equal to the stored value ("If the value of the merge condition column in the data to be
  loaded is greater than or equal to that of the existing data, the data is updated", same page,
  "Conditional updates").
- `partial_update`: only the loaded columns change on existing rows; new keys get defaults for the rest
  (same page, "Partial updates").

The staged relation holds target-typed columns, an optional `__op` and a `__seq` ordinal. Runs inside the
caller's DuckDB transaction; returns the rows the load applied (NumberLoadedRows, deletes included).
"""

from __future__ import annotations

import duckdb

from starrocks_emulator.storage.catalog import TableMeta, quote_ident

OP = "__op"
SEQ = "__seq"
KEYED_MODELS = ("PRIMARY", "UNIQUE")


def staged_columns(con: duckdb.DuckDBPyConnection, staged: str) -> list[str]:
    cursor = con.execute(f"SELECT * FROM {staged} LIMIT 0")
    return [d[0] for d in cursor.description or []]


def apply_staged(
    con: duckdb.DuckDBPyConnection,
    meta: TableMeta,
    staged: str,
    columns: list[str],
    merge_condition: str | None,
    partial_update: bool,
) -> int:
    target = f"{quote_ident(meta.db)}.{quote_ident(meta.name)}"
    present = staged_columns(con, staged)
    has_op = OP in present
    total_row = con.execute(f"SELECT count(*) FROM {staged}").fetchone()
    total = int(total_row[0]) if total_row else 0
    if total == 0:
        return 0
    column_list = ", ".join(quote_ident(c) for c in columns)
    upsert_filter = f"coalesce({OP}, 0) = 0" if has_op else "TRUE"
    if meta.model not in KEYED_MODELS or not meta.key_columns:
        con.execute(
            f"INSERT INTO {target} ({column_list}) SELECT {column_list} FROM {staged} WHERE {upsert_filter}"
        )
        return total

    keys = [quote_ident(k) for k in meta.key_columns]
    order = f"ORDER BY {SEQ} DESC" if SEQ in present else ""
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE __batch AS SELECT * FROM {staged} "
        f"QUALIFY row_number() OVER (PARTITION BY {', '.join(keys)} {order}) = 1"
    )
    match = " AND ".join(f"t.{k} = b.{k}" for k in keys)
    try:
        if merge_condition:
            cond = quote_ident(merge_condition)
            con.execute(
                f"DELETE FROM __batch b WHERE EXISTS (SELECT 1 FROM {target} t WHERE {match} "
                f"AND t.{cond} > b.{cond})"
            )
        if has_op:
            con.execute(
                f"DELETE FROM {target} t WHERE EXISTS (SELECT 1 FROM __batch b WHERE {match} AND b.{OP} = 1)"
            )
        if partial_update:
            non_keys = [quote_ident(c) for c in columns if c not in meta.key_columns]
            if non_keys:
                assignments = ", ".join(f"{c} = b.{c}" for c in non_keys)
                con.execute(
                    f"UPDATE {target} t SET {assignments} FROM __batch b WHERE {match} AND "
                    f"{upsert_filter.replace(OP, 'b.' + OP)}"
                )
            con.execute(
                f"INSERT INTO {target} ({column_list}) SELECT {column_list} FROM __batch b WHERE "
                f"{upsert_filter.replace(OP, 'b.' + OP)} AND NOT EXISTS (SELECT 1 FROM {target} t WHERE {match})"
            )
        else:
            con.execute(f"DELETE FROM {target} t WHERE EXISTS (SELECT 1 FROM __batch b WHERE {match})")
            con.execute(
                f"INSERT INTO {target} ({column_list}) SELECT {column_list} FROM __batch WHERE {upsert_filter}"
            )
    finally:
        con.execute("DROP TABLE IF EXISTS __batch")
    return total
