"""How a staged batch of rows lands in a table, per StarRocks table model.

- Duplicate Key (and Aggregate, simplified): every row is appended.
- Primary Key / Unique Key: rows upsert by key; within one load the last row of a key wins; `__op` = 1 deletes
  the key (https://docs.starrocks.io/docs/loading/Load_to_Primary_Key_tables/ — "__op ... 0 UPSERT, 1 DELETE").
- `merge_condition` (Primary Key only): a new row replaces the stored row only when its condition column is
  greater than or equal to the stored value ("If the value of the merge condition column in the data to be
  loaded is greater than or equal to that of the existing data, the data is updated", same page,
  "Conditional updates"); a NULL new value never wins over a stored value; deletes ignore the condition
  ("DELETE operations do not support conditional updates").
- Primary Key tables refuse a load whose encoded key is over 128 bytes (`check_key_size`).
- `partial_update`: only the loaded columns change on existing rows; new keys get defaults for the rest
  (same page, "Partial updates").

The staged relation holds target-typed columns, an optional `__op` and a `__seq` ordinal. Runs inside the
caller's DuckDB transaction; returns the rows the load applied (NumberLoadedRows, deletes included).
"""

from __future__ import annotations

import duckdb

from starrocks_emulator.storage.catalog import (
    EmulatorError,
    TableMeta,
    parse_type,
    quote_ident,
    varchar_length,
)

OP = "__op"
SEQ = "__seq"
KEYED_MODELS = ("PRIMARY", "UNIQUE")
PRIMARY_KEY_LIMIT_SIZE = 128  # BE config `primary_key_limit_size` (be/src/common/config.h)
KEY_SIZE_MESSAGE = "primary key size exceed the limit."
_FIXED_KEY_WIDTH = {
    "BOOLEAN": 1, "BOOL": 1, "TINYINT": 1, "SMALLINT": 2, "INT": 4, "INTEGER": 4, "DATE": 4, "BIGINT": 8,
    "DATETIME": 8, "LARGEINT": 16,
}  # fmt: skip


def check_key_size(con: duckdb.DuckDBPyConnection, meta: TableMeta, batch: str, limit: int) -> None:
    """The BE refuses a whole load whose encoded primary key exceeds `primary_key_limit_size` (128 bytes).

    be/src/storage/memtable.cpp: `if (_keys_type == PRIMARY_KEYS && PrimaryKeyEncoder::encode_exceed_limit(...,
    config::primary_key_limit_size)) return Status::Cancelled("primary key size exceed the limit.");`, checked
    on every row before upserts and deletes are split. PrimaryKeyEncoder::encode_exceed_limit
    (be/src/storage/primary_key_encoder.cpp): one key column counts only if it is VARCHAR (`size > limit`);
    several add the fixed widths of TabletColumn::get_field_length_by_type (BOOLEAN/TINYINT 1, SMALLINT 2,
    INT/DATE 4, BIGINT/DATETIME 8, LARGEINT 16) and, per VARCHAR, its bytes plus its NUL bytes plus a 2-byte
    separator unless it is the last key column.
    """
    keys = [meta.column(k) for k in meta.key_columns]
    fixed, parts = 0, []
    for i, column in enumerate(keys):
        assert column is not None
        if varchar_length(column.type) is None:
            fixed += _FIXED_KEY_WIDTH.get(parse_type(column.type)[0], 8)
            continue
        name = quote_ident(column.name)
        size = f"strlen({name})"
        if len(keys) > 1 and i + 1 < len(keys):
            size = f"({size} + {size} - strlen(replace({name}, chr(0), '')) + 2)"
        parts.append(size)
    if not parts:
        if fixed > limit:
            raise EmulatorError(1064, KEY_SIZE_MESSAGE)
        return
    row = con.execute(f"SELECT max({fixed} + {' + '.join(parts)}) FROM {batch}").fetchone()
    if row is not None and row[0] is not None and row[0] > limit:
        raise EmulatorError(1064, KEY_SIZE_MESSAGE)


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
    key_limit: int = PRIMARY_KEY_LIMIT_SIZE,
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
        if meta.model == "PRIMARY":
            check_key_size(con, meta, "__batch", key_limit)
        if merge_condition:
            # BE update_manager: `r = old_column->compare_at(j, j, *new_columns[0], -1); if (r > 0) skip`, and
            # NullableColumn::compare_at ranks a NULL below any value: a NULL new cursor never replaces a stored
            # non-null one, a stored NULL is always replaced. Deletes are applied after the upserts with no
            # condition check ("3. Handle del files one by one"), so only upsert rows are dropped here.
            cond = quote_ident(merge_condition)
            upserts_only = f"coalesce(b.{OP}, 0) = 0 AND " if has_op else ""
            con.execute(
                f"DELETE FROM __batch b WHERE {upserts_only}EXISTS (SELECT 1 FROM {target} t WHERE {match} "
                f"AND (t.{cond} > b.{cond} OR (b.{cond} IS NULL AND t.{cond} IS NOT NULL)))"
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
