"""Replacing and dropping the tables the connector owns: SWAP, RENAME, DROP ... FORCE.

`ALTER TABLE final SWAP WITH staging` exchanges two tables atomically (ALTER_TABLE docs, "Swap"; synchronous),
and swapping twice undoes it, so a swap or rename whose answer a broken connection lost is never sent again
blindly (sql.py `idempotent=False`): the tables' ids (`information_schema.tables_config.TABLE_ID`) or their
existence tell whether it happened. Tables the connector drops (stale staging, the replaced table after a
swap, check tables) are dropped with FORCE: a plain DROP keeps a table's data in the recycle bin for a day
(DROP_TABLE docs: "you can use the RECOVER statement to restore the table within a specified period (1 day by
default)", fe `catalog_trash_expire_second`), so every overwrite would keep a full copy of the old table on
disk for that long.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from destination_starrocks.errors import StarRocksSqlError, TransientError
from destination_starrocks.naming import quote_identifier
from destination_starrocks.sql import OutcomeUnknown


def drop_owned_table(sql: Any, db: str, table: str) -> None:
    """Drop a table the connector owns, past the recycle bin."""
    sql.execute(f"DROP TABLE IF EXISTS {_qualified(db, table)} FORCE")


def rename_table(sql: Any, db: str, staging: str, final: str) -> None:
    try:
        sql.execute(
            f"ALTER TABLE {_qualified(db, staging)} RENAME {quote_identifier(final)}", idempotent=False
        )
    except OutcomeUnknown:
        present = existing_tables(sql, db, [staging, final])
        if staging in present or final not in present:
            raise TransientError(
                f"Lost the connection while renaming {db}.{staging} to {final}, and it did not happen."
            ) from None


def swap_tables(sql: Any, db: str, final: str, staging: str) -> None:
    """Atomic exchange of the two tables; the old data then sits in `staging`."""
    before = _table_ids(sql, db, final, staging)
    try:
        sql.execute(
            f"ALTER TABLE {_qualified(db, final)} SWAP WITH {quote_identifier(staging)}", idempotent=False
        )
    except OutcomeUnknown:
        after = _table_ids(sql, db, final, staging)
        known = before is not None and after is not None
        if not known or after.get(final) != before.get(staging):  # type: ignore[union-attr]
            raise TransientError(
                f"Lost the connection while swapping {db}.{staging} into {final}; it "
                f"{'did not happen' if known else 'may or may not have happened'}. "
                f"Check that {db}.{final} holds this sync's rows."
            ) from None


def _table_ids(sql: Any, db: str, *tables: str) -> dict[str, int] | None:
    try:
        rows = sql.query(
            "SELECT TABLE_NAME, TABLE_ID FROM information_schema.tables_config "
            f"WHERE TABLE_SCHEMA = %s AND TABLE_NAME IN ({', '.join(['%s'] * len(tables))})",
            (db, *tables),
        )
    except StarRocksSqlError:  # an FE whose tables_config has no TABLE_ID
        return None
    if any(table_id is None for _, table_id in rows):
        return None
    return {str(name): int(table_id) for name, table_id in rows}


def _qualified(db: str, table: str) -> str:
    return f"{quote_identifier(db)}.{quote_identifier(table)}"


def existing_tables(sql: Any, db: str, names: Sequence[str]) -> set[str]:
    """Which of `names` are tables of `db`, in one query."""
    marks = ", ".join("%s" for _ in names)
    rows = sql.query(
        f"SELECT TABLE_NAME FROM information_schema.tables WHERE TABLE_SCHEMA = %s AND TABLE_NAME IN ({marks})",
        (db, *names),
    )
    return {str(row[0]) for row in rows}
