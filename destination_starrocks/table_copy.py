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
- `derived`: target columns the connector computes itself when it copies the rows (the surrogate key and the
  cursor rank, surrogate_copy.py via `newest_rows_query`), never taken from the source.
- `label`: the INSERT's label (`INSERT INTO t WITH LABEL l`), fixed before the first attempt, so an INSERT
  whose answer a broken connection lost cannot apply twice (`run_once`).
- `skip_generations`: the target is a Duplicate Key table that may already hold some of these rows (a fold
  interrupted after its INSERT committed); rows whose `_airbyte_raw_id` the target has among those
  generations are not copied again. Filtering the target by generation lets StarRocks' zone maps skip the
  segments of other syncs.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from destination_starrocks.errors import StarRocksSqlError, TransientError
from destination_starrocks.naming import AIRBYTE_COLUMNS, SURROGATE_KEY_COLUMN, quote_identifier
from destination_starrocks.sql import OutcomeUnknown
from destination_starrocks.type_mapping import (
    BIGINT,
    BOOLEAN,
    DATE,
    DATETIME,
    DECIMAL,
    DOUBLE,
    JSON,
    LARGEINT,
    ORDERED_KINDS,
    STRING,
    SrType,
)

logger = logging.getLogger("airbyte")

RAW_ID, EXTRACTED_AT, _META, GENERATION_ID = AIRBYTE_COLUMNS
COMMITTED_STATES = ("VISIBLE", "COMMITTED")
RUNNING_STATES = ("PREPARE", "PREPARED")
LABEL_USED = "has already been used"  # fe LabelAlreadyUsedException: "Label [l] has already been used."
RUN_ONCE_ATTEMPTS = 3
# What a key column gets when the source has no usable value for it. JSON gets the JSON null (parse_json:
# a CAST of 'null' to JSON would be the string "null", be/src/util/json.cpp `parse_json_or_string`).
KEY_DEFAULTS = {
    BIGINT: "0",
    LARGEINT: "0",
    DOUBLE: "0",
    DECIMAL: "0",
    BOOLEAN: "FALSE",
    STRING: "''",
    DATE: "CAST('1970-01-01' AS DATE)",
    DATETIME: "CAST('1970-01-01 00:00:00' AS DATETIME)",
    JSON: "PARSE_JSON('null')",
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
    label: str | None = None  # INSERT INTO t WITH LABEL l: a retried INSERT cannot apply twice
    derived: Sequence[str] = ()  # target columns the connector computes (surrogate_copy.py), never copied

    # ---- the statement --------------------------------------------------------------------------------
    def statement(self) -> str:
        kept, columns, source = self._projection()
        into = f"INSERT INTO {qualified(self.db, self.target)}"
        if self.label is not None:
            into += f" WITH LABEL {quote_identifier(self.label)}"  # before the column list (INSERT.md)
        if not self.key_columns:
            select = f"SELECT {columns} FROM ({source}) AS {SOURCE}"
            if self.skip_generations is not None:
                select += f" WHERE {SOURCE}.{quote_identifier(RAW_ID)} NOT IN ({self._raw_ids_present()})"
            return f"{into} ({columns}) {select}"
        keys = self._dedup_keys()
        statement = (
            f"SELECT {self._ranked_columns(kept)} FROM ({self._ranked(kept, columns, source)}) AS {RANKED}"
        )
        where = [f"{RANKED}.{RANK} = 1"]
        deleted = self._deleted_column(kept)
        if deleted is not None:
            where.append(f"{RANKED}.{quote_identifier(deleted)} IS NULL")
        if self.keep_newer_target_rows:
            on = " AND ".join(f"{RANKED}.{quote_identifier(k)} = {OLD}.{quote_identifier(k)}" for k in keys)
            statement += f" LEFT JOIN {qualified(self.db, self.target)} AS {OLD} ON {on}"
            where.append(f"({OLD}.{quote_identifier(keys[0])} IS NULL OR {self._not_older(kept)})")
        statement += " WHERE " + " AND ".join(where)
        return f"{into} ({columns}) {statement}"

    def newest_rows_query(self) -> tuple[str, list[str]]:
        """(SELECT, its column names) of the newest source row per key, in the target's types, CDC deletes
        included, oldest first: what the connector copies itself when the target's key is one SQL cannot
        compute (surrogate_copy.py). Loading these rows in this order, the last row of a key wins, so even keys
        that are one to the connector but two to SQL (JSON of different texts) end with their newest row."""
        kept, columns, source = self._projection()
        ranked = self._ranked(kept, columns, source)
        order = self._newest_first(kept, prefix=f"{RANKED}.", reverse=True)
        query = (
            f"SELECT {self._ranked_columns(kept)} FROM ({ranked}) AS {RANKED} WHERE {RANKED}.{RANK} = 1"
            f" ORDER BY {order}"
        )
        return query, kept

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
    def _projection(self) -> tuple[list[str], str, str]:
        """(target columns the copy fills, their quoted list, the SELECT that casts the source into them)."""
        names = [name for name, _ in self.target_columns.values()]
        projected = [(name, self._value(name)) for name in names]
        kept = [name for name, value in projected if value is not None]
        source = (
            "SELECT "
            + ", ".join(f"{value} AS {quote_identifier(n)}" for n, value in projected if value)
            + f" FROM {qualified(self.db, self.source)}"
        )
        return kept, ", ".join(quote_identifier(n) for n in kept), source

    def _dedup_keys(self) -> list[str]:
        """The columns rows are deduplicated on: the surrogate key when both tables carry it (a fold into a
        surrogate-keyed table: the shaper computed it), else the key columns themselves."""
        surrogate = SURROGATE_KEY_COLUMN
        carried = all(surrogate in c for c in (self.source_columns, self.target_columns))
        if self.key_columns and carried and not self._is_derived(surrogate):
            return [self._target_name(surrogate)]
        return [self._target_name(k) for k in self.key_columns]

    def _ranked(self, kept: Sequence[str], columns: str, source: str) -> str:
        partition = ", ".join(self._partition_term(k) for k in self._dedup_keys())
        return (
            f"SELECT {columns}, ROW_NUMBER() OVER (PARTITION BY {partition} ORDER BY {self._newest_first(kept)})"
            f" AS {RANK} FROM ({source}) AS {SOURCE}"
        )

    @staticmethod
    def _ranked_columns(kept: Sequence[str]) -> str:
        return ", ".join(f"{RANKED}.{quote_identifier(n)}" for n in kept)

    def _partition_term(self, name: str) -> str:
        """A key column as PARTITION BY takes it: JSON by its text (equal texts are equal JSON values)."""
        if self.target_columns[name.lower()][1].kind == JSON:
            return f"CAST({quote_identifier(name)} AS VARCHAR)"
        return quote_identifier(name)

    def _target_name(self, name: str) -> str:
        return self.target_columns[name.lower()][0]

    def _is_key(self, name: str) -> bool:
        return name.lower() in {k.lower() for k in self.key_columns}

    def _is_derived(self, name: str) -> bool:
        return name.lower() in {d.lower() for d in self.derived}

    def _raw_value(self, name: str) -> str | None:
        """The source's value for target column `name`, cast to its type; None when the source lacks it (or
        the column is derived)."""
        found = self.source_columns.get(name.lower())
        if found is None or self._is_derived(name):
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

    def _newest_first(self, kept: Sequence[str], prefix: str = "", reverse: bool = False) -> str:
        """ORDER BY newest first: the largest cursor (a row without one ranks below any with one), then the
        latest `_airbyte_extracted_at`, then `_airbyte_raw_id`; `reverse`: oldest first."""
        first, last = ("DESC", "ASC") if reverse else ("ASC", "DESC")
        order = []
        cursor = self._cursor(kept)
        if cursor is not None:
            c = prefix + quote_identifier(cursor)
            order += [f"{c} IS NULL {first}", f"{c} {last}"]
        order += [
            f"{prefix}{quote_identifier(EXTRACTED_AT)} {last}",
            f"{prefix}{quote_identifier(RAW_ID)} {last}",
        ]
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


def run_once(sql: Any, copy: RowCopy, label_state: Callable[[str, str], str]) -> int | None:
    """Run `copy.statement()` (it carries `copy.label`) so that it applies exactly once; its row count, or None
    when a lost answer hid it (the copy did commit).

    The statement runs on a connection of its own with timeouts as long as a copy may take (sql.py
    `execute_copy`), which never sends it again; here a lost answer is settled by the label's state (`label_state`: get_load_state, which knows INSERT labels too and waits while it runs):
    VISIBLE/COMMITTED means done; ABORTED or UNKNOWN means nothing was applied, so the same statement goes again
    with the same label (StarRocks frees a label only when its job failed). A resent statement that hears
    "Label [l] has already been used." is also settled by the state, so the INSERT is never applied twice.
    """
    assert copy.label is not None, "a copy that must run once carries a label"
    statement = copy.statement()
    state = ""
    for attempt in range(1, RUN_ONCE_ATTEMPTS + 1):
        try:
            return sql.execute_copy(statement) or 0
        except OutcomeUnknown as exc:
            why = f"lost the answer ({exc})"
        except StarRocksSqlError as exc:
            if LABEL_USED not in str(exc) or attempt == 1:
                raise
            why = "its label is taken"
        state = label_state(copy.db, copy.label)
        logger.warning(
            "Copy into %s.%s (label %s): %s; the label is %s",
            copy.db,
            copy.target,
            copy.label,
            why,
            state or "?",
        )
        if state in COMMITTED_STATES:
            return None
        if state in RUNNING_STATES:
            break
    raise TransientError(
        f"Could not tell whether the copy into {copy.db}.{copy.target} (label {copy.label}) applied: its "
        f"label is {state or 'unknown'}. The next sync starts it again."
    )
