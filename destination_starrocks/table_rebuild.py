"""Rebuilding a table in place when its model or key no longer fits the stream.

StarRocks cannot change a table's model (Duplicate Key <-> Primary Key) or its key columns with ALTER TABLE,
yet Airbyte lets a user change a stream's primary key, or switch it between `append` and `append_dedup`,
and its destination suite expects the next sync to succeed with the old rows kept (`testDedupChangePk` in
the bulk CDK's BasicFunctionalityIntegrationTest). So the table is rebuilt:

1. `CREATE TABLE <table>__airbyte_new` with the model and key the stream needs now (and every old column
   the stream no longer declares, so no value is dropped);
2. the old rows copied into it (table_copy.py: into a Primary Key table only the newest row per new key, by
   the cursor, then `_airbyte_extracted_at`, and no key whose newest row is a CDC delete; a key value that is
   missing, NULL or does not cast gets its type's default, since StarRocks key columns are NOT NULL): with
   one labelled `INSERT ... SELECT` (one version, inside the cluster; its label makes a resend after a lost
   answer harmless, table_copy.run_once), or, when the new table is keyed on the surrogate `_airbyte_pk`
   that SQL cannot compute, with the same SELECT streamed through the connector, which computes the key and
   sends the rows by Stream Load in large batches (surrogate_copy.py);
3. `ALTER TABLE <table> SWAP WITH <table>__airbyte_new` (atomic: readers see the old table until here,
   docs sql-reference/sql-statements/table_bucket_part_index/ALTER_TABLE.md, "Swap");
4. `DROP TABLE <table>__airbyte_new FORCE` (now the old table; FORCE skips the recycle bin, where a plain
   DROP would keep the whole old copy for a day, DROP_TABLE.md).

An interrupted rebuild leaves `<table>__airbyte_new` behind: before the swap it is a partial copy, after the
swap the old table; in both cases the table itself is whole, so the next sync drops the leftover
(`drop_leftovers`) and, if the table still does not fit, rebuilds again from the start.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from destination_starrocks.naming import TABLE_NAME_MAX, short_hash
from destination_starrocks.surrogate_copy import Loads, copy_with_surrogate
from destination_starrocks.table_copy import Columns, RowCopy, qualified, run_once
from destination_starrocks.table_swap import drop_owned_table, swap_tables
from destination_starrocks.type_mapping import ColumnDef

logger = logging.getLogger("airbyte")

REBUILD_SUFFIX = "__airbyte_new"


def rebuild_table_name(table: str) -> str:
    """Where a rebuild of `table` builds the new table (a hashed name when `table` is near the limit)."""
    name = table + REBUILD_SUFFIX
    return name if len(name) <= TABLE_NAME_MAX else f"_airbyte_new_{short_hash(table)}"


def model_fits(
    model: str,
    key_columns: Sequence[str],
    dedup: bool,
    wanted_keys: Sequence[str],
    *,
    natural_key: bool = False,
    wants_surrogate: bool = False,
) -> bool:
    """Whether a table of `model` keyed on `key_columns` serves the stream as it is configured now.

    A Primary Key table keyed on the fields themselves (`natural_key`, made by an earlier version) does not
    fit a key that needs the surrogate (`wants_surrogate`: a string, number, JSON... key, key_plan.py): any
    later record could bring a key over StarRocks' 128-byte limit and fail every load of the sync, so such a
    table is rebuilt onto `_airbyte_pk` at the first sync that sees it (docs/starrocks.md says why).
    """
    if not dedup:
        return model != "PRIMARY"
    if natural_key and wants_surrogate:
        return False
    return model == "PRIMARY" and [k.lower() for k in key_columns] == [k.lower() for k in wanted_keys]


def column_from(columns: Iterable[ColumnDef], path: Sequence[str] | None) -> str | None:
    """The name of the column whose value comes from the record's `path` (the cursor, `_ab_cdc_deleted_at`)."""
    wanted = tuple(path or ())
    return next((c.name for c in columns if wanted and tuple(c.source) == wanted), None)


def drop_leftovers(sql: Any, db: str, tables: Sequence[str], present: Callable[[str], bool]) -> None:
    """Drop what interrupted rebuilds of `tables` left (see the module docstring)."""
    for table in tables:
        leftover = rebuild_table_name(table)
        if present(leftover):
            logger.info("Dropping %s.%s, left by an interrupted rebuild of %s", db, leftover, table)
            drop_owned_table(sql, db, leftover)


def rebuild(
    sql: Any,
    db: str,
    table: str,
    old_model: str,
    old_keys: Sequence[str],
    old_columns: Columns,
    *,
    dedup: bool,
    key_columns: Sequence[str],
    wanted_columns: Sequence[str],
    cursor: str | None,
    deleted_at: str | None,
    rank_column: str | None,
    create: Callable[[str, list[ColumnDef]], None],
    describe: Callable[[str], Any],
    loads: Loads,
    stream: str,
) -> Any:
    """Rebuild `db.table` as the stream needs it; returns the rebuilt table's description (`describe`)."""
    started = time.monotonic()
    new = rebuild_table_name(table)
    drop_owned_table(sql, db, new)
    wanted = {c.lower() for c in wanted_columns}
    kept = [
        ColumnDef(name, sr_type.text) for low, (name, sr_type) in old_columns.items() if low not in wanted
    ]
    create(new, kept)
    target = describe(new)
    surrogate = target.key_columns[0] if dedup and target.hashed_keys is not None else None
    rank = target.columns.get((rank_column or "").lower()) if surrogate else None
    copy = RowCopy(
        db, table, new, old_columns, target.columns,
        key_columns=key_columns if dedup else (), cursor=cursor, deleted_at=deleted_at,
        label=None if surrogate else loads.insert_label(db, new),
        derived=[c for c in (surrogate, rank[0] if rank else None) if c],
    )  # fmt: skip
    rows_before = _count(sql, f"SELECT COUNT(*) FROM {qualified(db, table)}")
    defaulted_query = copy.unusable_keys_query()
    defaulted = _count(sql, defaulted_query) if defaulted_query else 0
    how = "one INSERT ... SELECT"
    if surrogate is not None:
        counts = copy_with_surrogate(
            sql, loads, copy, surrogate=surrogate, key_columns=key_columns,
            rank_column=rank[0] if rank else None, cursor=cursor, batching=loads.batching,
        )  # fmt: skip
        rate = counts.read / counts.seconds if counts.seconds > 0 else float(counts.read)
        how = (
            f"{counts.read} rows read and {counts.loads} Stream Loads through the connector "
            f"({rate:.0f} rows/s), computing {surrogate}"
        )
    else:
        run_once(sql, copy, loads.label_state)
    rows_after = _count(sql, f"SELECT COUNT(*) FROM {qualified(db, new)}")
    swap_tables(sql, db, table, new)  # never sent twice after a lost answer (table_swap.py)
    drop_owned_table(sql, db, new)
    was = _model_text(old_model, old_keys)
    now = _model_text("PRIMARY" if dedup else "DUPLICATE", key_columns if dedup else (), surrogate)
    details = [f"{rows_before} rows copied into {rows_after} ({how})"]
    if rows_after < rows_before:
        details.append(
            f"{rows_before - rows_after} older versions or CDC deletes of a key left out "
            f"(newest by {'`' + cursor + '`, then ' if cursor else ''}_airbyte_extracted_at kept)"
        )
    if defaulted:
        details.append(f"{defaulted} rows had no value for the new key and got its type's default (0 or '')")
    logger.info(
        "Stream %s: rebuilt %s.%s as %s (it was %s): %s; swapped in, old table dropped (%.1f s)",
        stream, db, table, now, was, "; ".join(details), time.monotonic() - started,
    )  # fmt: skip
    return describe(table)


def _model_text(model: str, keys: Sequence[str], surrogate: str | None = None) -> str:
    if model == "PRIMARY" and surrogate:
        return f"a Primary Key table keyed on {surrogate}, a hash of ({', '.join(keys)})"
    if model == "PRIMARY":
        return f"a Primary Key table keyed on ({', '.join(keys)})"
    return "a Duplicate Key table" if model == "DUPLICATE" else f"a {model} table"


def _count(sql: Any, query: str) -> int:
    rows = sql.query(query)
    return int(rows[0][0]) if rows and rows[0][0] is not None else 0
