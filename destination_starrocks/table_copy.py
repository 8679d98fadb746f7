"""Copying rows between two connector tables with one `INSERT INTO target (...) SELECT ... FROM source`.

Used when a table is rebuilt with another model or key (table_rebuild.py) and when the rows an interrupted
refresh left in its staging table are folded into the final table (truncate_resume.py). StarRocks runs the
copy inside the cluster as one load job and one transaction ("INSERT INTO ... SELECT", docs
sql-reference/sql-statements/loading_unloading/INSERT.md), so nothing travels through the connector and a
failed copy leaves the target as it was.

What the statement does, column by column of the target (names match case-insensitively, as StarRocks'):
- a column the source has is copied, with `CAST(... AS <target type>)` when the types differ;
- a column the source lacks is left out (NULL), except a key column of a Primary Key target, which StarRocks
  requires NOT NULL: it gets the type's default (0, '', 1970-01-01), as does a source value that is NULL or
  does not cast. Airbyte's destination suite accepts this ("When changing a column to a PK, some destination
  set the column to a default value", `dedupChangeUsesDefault` in the bulk CDK's
  BasicFunctionalityIntegrationTest).
- into a Primary Key target only the newest row per key is copied, as Airbyte's dedup defines it: the largest
  cursor (a row without one ranks below any with one), then the latest `_airbyte_extracted_at`:
  `ROW_NUMBER() OVER (PARTITION BY <key> ORDER BY <cursor> IS NULL, <cursor> DESC, _airbyte_extracted_at
  DESC)`. A key whose newest row is a CDC delete (`_ab_cdc_deleted_at` set) is not copied.
- `keep_newer_target_rows`: the target already holds rows; a key's row there stays when it is newer than the
  source's (the fold: an upsert in which the newest cursor wins, like the loads' `merge_condition`).
- `skip_generations`: the target is a Duplicate Key table that may already hold some of these rows (a fold
  interrupted after its INSERT committed); rows whose `_airbyte_raw_id` the target has among those
  generations are not copied again. Filtering the target by generation lets StarRocks' zone maps skip the
  segments of other syncs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from destination_starrocks.naming import AIRBYTE_COLUMNS, quote_identifier
from destination_starrocks.type_mapping import (
    BIGINT,
    BOOLEAN,
    DATE,
    DATETIME,
    LARGEINT,
    ORDERED_KINDS,
    STRING,
    SrType,
)

RAW_ID, EXTRACTED_AT, _META, GENERATION_ID = AIRBYTE_COLUMNS
# What a Primary Key column gets when the source has no usable value for it.
KEY_DEFAULTS = {
    BIGINT: "0",
    LARGEINT: "0",
    BOOLEAN: "FALSE",
    STRING: "''",
    DATE: "CAST('1970-01-01' AS DATE)",
    DATETIME: "CAST('1970-01-01 00:00:00' AS DATETIME)",
}
SOURCE, RANKED, OLD, RANK = "`__airbyte_src`", "`__airbyte_ranked`", "`__airbyte_old`", "`__airbyte_rn`"

Columns = Mapping[str, tuple[str, SrType]]  # lower-case name -> (name, type), as tables.py describes a table


@dataclass(frozen=True)
class RowCopy:
    db: str
    source: str
    target: str
    source_columns: Columns
    target_columns: Columns
    key_columns: Sequence[str] = ()  # the target's Primary Key (empty: a Duplicate Key target)
    cursor: str | None = None
    deleted_at: str | None = None
    keep_newer_target_rows: bool = False
    skip_generations: Sequence[int | None] | None = None

    # ---- the statement --------------------------------------------------------------------------------
    def statement(self) -> str:
        names = [name for name, _ in self.target_columns.values()]
        projected = [(name, self._value(name)) for name in names]
        kept = [name for name, value in projected if value is not None]
        columns = ", ".join(quote_identifier(n) for n in kept)
        source = (
            "SELECT "
            + ", ".join(f"{value} AS {quote_identifier(n)}" for n, value in projected if value)
            + f" FROM {qualified(self.db, self.source)}"
        )
        if not self.key_columns:
            select = f"SELECT {columns} FROM ({source}) AS {SOURCE}"
            if self.skip_generations is not None:
                select += f" WHERE {SOURCE}.{quote_identifier(RAW_ID)} NOT IN ({self._raw_ids_present()})"
            return f"INSERT INTO {qualified(self.db, self.target)} ({columns}) {select}"
        keys = [self._target_name(k) for k in self.key_columns]
        partition = ", ".join(quote_identifier(k) for k in keys)
        ranked = (
            f"SELECT {columns}, ROW_NUMBER() OVER (PARTITION BY {partition} ORDER BY {self._newest_first(kept)})"
            f" AS {RANK} FROM ({source}) AS {SOURCE}"
        )
        select = ", ".join(f"{RANKED}.{quote_identifier(n)}" for n in kept)
        statement = f"SELECT {select} FROM ({ranked}) AS {RANKED}"
        where = [f"{RANKED}.{RANK} = 1"]
        deleted = self._deleted_column(kept)
        if deleted is not None:
            where.append(f"{RANKED}.{quote_identifier(deleted)} IS NULL")
        if self.keep_newer_target_rows:
            on = " AND ".join(f"{RANKED}.{quote_identifier(k)} = {OLD}.{quote_identifier(k)}" for k in keys)
            statement += f" LEFT JOIN {qualified(self.db, self.target)} AS {OLD} ON {on}"
            where.append(f"({OLD}.{quote_identifier(keys[0])} IS NULL OR {self._not_older(kept)})")
        statement += " WHERE " + " AND ".join(where)
        return f"INSERT INTO {qualified(self.db, self.target)} ({columns}) {statement}"

    def unusable_keys_query(self) -> str | None:
        """Counts the source rows whose new key needs a default (a NULL, a missing column, a failed cast)."""
        if not self.key_columns:
            return None
        tests = []
        for key in self.key_columns:
            expression = self._raw_value(self._target_name(key))
            if expression is None:
                return f"SELECT COUNT(*) FROM {qualified(self.db, self.source)}"
            tests.append(f"{expression} IS NULL")
        return f"SELECT COUNT(*) FROM {qualified(self.db, self.source)} WHERE " + " OR ".join(tests)

    # ---- pieces ---------------------------------------------------------------------------------------
    def _target_name(self, name: str) -> str:
        return self.target_columns[name.lower()][0]

    def _is_key(self, name: str) -> bool:
        return name.lower() in {k.lower() for k in self.key_columns}

    def _raw_value(self, name: str) -> str | None:
        """The source's value for target column `name`, cast to its type; None when the source lacks it."""
        found = self.source_columns.get(name.lower())
        if found is None:
            return None
        source_name, source_type = found
        target_type = self.target_columns[name.lower()][1]
        if source_type.text == target_type.text:
            return f"{quote_identifier(source_name)}"
        return f"CAST({quote_identifier(source_name)} AS {target_type.text})"

    def _value(self, name: str) -> str | None:
        value = self._raw_value(name)
        if self._is_key(name):
            default = KEY_DEFAULTS.get(self.target_columns[name.lower()][1].kind, "''")
            return default if value is None else f"COALESCE({value}, {default})"
        return value

    def _newest_first(self, kept: Sequence[str]) -> str:
        order = []
        cursor = self._cursor(kept)
        if cursor is not None:
            c = quote_identifier(cursor)
            order += [f"{c} IS NULL", f"{c} DESC"]
        order += [f"{quote_identifier(EXTRACTED_AT)} DESC", f"{quote_identifier(RAW_ID)} DESC"]
        return ", ".join(order)

    def _not_older(self, kept: Sequence[str]) -> str:
        """The source row is at least as new as the target's row with its key (NULL cursors rank lowest)."""
        new_at, old_at = (f"{t}.{quote_identifier(EXTRACTED_AT)}" for t in (RANKED, OLD))
        cursor = self._target_cursor()
        if cursor is None:
            return f"{new_at} >= {old_at}"
        old = f"{OLD}.{quote_identifier(cursor)}"
        if self._cursor(kept) is None:  # the source has no cursor column: its rows rank below any cursor
            return f"({old} IS NULL AND {new_at} >= {old_at})"
        new = f"{RANKED}.{quote_identifier(cursor)}"
        return (
            f"(({new} IS NOT NULL AND ({old} IS NULL OR {new} > {old}))"
            f" OR (({new} = {old} OR ({new} IS NULL AND {old} IS NULL)) AND {new_at} >= {old_at}))"
        )

    def _target_cursor(self) -> str | None:
        """The target's cursor column, when it has one whose type orders values (JSON does not)."""
        found = self.target_columns.get(self.cursor.lower()) if self.cursor else None
        if found is None or found[1].kind not in ORDERED_KINDS:
            return None
        return found[0]

    def _cursor(self, kept: Sequence[str]) -> str | None:
        """The cursor column, when the copy carries it from the source."""
        cursor = self._target_cursor()
        return cursor if cursor is not None and cursor.lower() in {k.lower() for k in kept} else None

    def _deleted_column(self, kept: Sequence[str]) -> str | None:
        if self.deleted_at is None or self.deleted_at.lower() not in {k.lower() for k in kept}:
            return None
        return self._target_name(self.deleted_at)

    def _raw_ids_present(self) -> str:
        generation = quote_identifier(GENERATION_ID)
        known = [g for g in self.skip_generations or () if g is not None]
        tests = []
        if known:
            tests.append(f"{generation} IN ({', '.join(str(int(g)) for g in known)})")
        if any(g is None for g in self.skip_generations or ()):
            tests.append(f"{generation} IS NULL")
        where = " OR ".join(tests) or "FALSE"
        return f"SELECT {quote_identifier(RAW_ID)} FROM {qualified(self.db, self.target)} WHERE {where}"


def qualified(db: str, table: str) -> str:
    return f"{quote_identifier(db)}.{quote_identifier(table)}"
