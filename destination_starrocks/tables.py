"""Table lifecycle per stream and sync mode: database, table model, schema evolution, staging + SWAP.

Contract (what write_command.py and writer.py call):
- `TableManager(sql, config, streams)` with the configured catalog's streams (names are resolved over the
  whole catalog, so a stream's table does not depend on catalog order); `prepare(configured_stream) ->
  LoadTarget`, once per stream, before any load: creates the database and the table (or the staging table),
  evolves an existing table's schema, and builds the stream's RowShaper from the columns the table really has.
- `finish(target, complete)`: at the end of a stream. For an overwrite or truncate refresh, `complete=True`
  swaps the staging table in (`ALTER TABLE final SWAP WITH staging`, then drops the old one; a first sync
  renames staging instead). `complete=False` leaves both tables alone: the final table is untouched, and the
  staging rows of this generation stay for the retry, because the STATEs after them were already released
  and the source will resume after them (dropping them would lose those records). What the next sync does
  with them (reuse, fold into the final table, or drop when a newer refresh replaces them) is
  truncate_resume.py's; a table whose model or key no longer fits is rebuilt by table_rebuild.py.

Table models (https://docs.starrocks.io/docs/table_design/table_types/): append and overwrite streams get a
Duplicate Key table, `append_dedup` a Primary Key table distributed by its key: the stream's primary key
itself when StarRocks can hold it as one (integer, boolean, date and date-time fields), else a surrogate
`_airbyte_pk` hashed from it, with the key fields kept as NOT NULL columns (key_plan.py). Rows of a Primary Key
table carry `__op` in their JSON (0 upsert, 1 delete for `_ab_cdc_deleted_at`): without a `columns` header
StarRocks reads `__op` from each JSON object (fe `Load.initColumns`), and the header, which would list every
column, could outgrow the FE's 32 KiB header limit on wide tables. `merge_condition` keeps a stored row whose
condition is larger ("Conditional updates", docs/en/loading/Load_to_Primary_Key_tables.md; equal values: the
later load wins; deletes ignore it): the cursor column when StarRocks can compare it, the cursor's rank column
for a string cursor (cursor_rank.py), none otherwise (the later load wins).

A truncate happens for `overwrite`, and for refreshes where `minimum_generation_id == generation_id > 0`
(Airbyte's rule: an append stream of generation N with minimum 0 keeps older generations' rows).

Schema changes follow StarRocks' job (schema_change.py). Tables the connector drops (stale staging, replaced
tables) are dropped with FORCE: a plain DROP keeps the data in the recycle bin for a day
(`catalog_trash_expire_second`), so every overwrite would keep a full copy of the old table on disk.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any

from destination_starrocks import truncate_resume
from destination_starrocks.errors import ConfigError, StarRocksSqlError, TransientError
from destination_starrocks.key_plan import key_columns_from_comment
from destination_starrocks.naming import (
    SURROGATE_KEY_COLUMN,
    quote_identifier,
    quote_literal,
)
from destination_starrocks.replication import check_replication, replication_error
from destination_starrocks.row_shaper import CDC_DELETED_AT, FieldPlan, RowShaper
from destination_starrocks.schema_change import JobCancelled, SchemaChanger
from destination_starrocks.stream_load import StreamLoader
from destination_starrocks.stream_plan import (
    RAW_ID,
    StreamPlan,
    merge_condition,
    plan_stream,
)
from destination_starrocks.surrogate_copy import Loads, batching_for
from destination_starrocks.table_names import TableNames
from destination_starrocks.table_rebuild import column_from, model_fits, rebuild
from destination_starrocks.table_swap import drop_owned_table, rename_table, swap_tables
from destination_starrocks.type_mapping import (
    JSON,
    ORDERED_KINDS,
    STRING,
    TYPECAST_ERROR,
    ColumnDef,
    SrType,
    can_widen,
    kind_type,
    parse_type,
)

logger = logging.getLogger("airbyte")


@dataclass(frozen=True)
class LoadTarget:
    stream: tuple[str | None, str]  # (namespace, name) as in the catalog
    database: str
    table: str  # final table
    load_table: str  # where Stream Loads go (== table, or the staging table)
    headers: dict[str, str]  # extra Stream Load headers: "merge_condition" (dedup, comparable cursor)
    shaper: RowShaper
    dedup: bool  # append_dedup: Primary Key table
    staging: bool = False  # overwrite / truncate refresh: finish() swaps load_table in
    catalog_generations: bool = True  # the catalog gave generation ids (a caller that knows refreshes)


@dataclass
class _Existing:
    model: str  # "PRIMARY" / "DUPLICATE" / other
    key_columns: list[str]  # the table's PRIMARY KEY columns
    columns: dict[str, tuple[str, SrType]] = field(default_factory=dict)  # lower name -> (name, type)
    hashed_keys: list[str] | None = None  # surrogate-keyed: the key columns `_airbyte_pk` hashes

    @property
    def logical_keys(self) -> list[str]:
        """The stream's primary-key columns this table dedups on (behind the surrogate key, if any)."""
        return self.hashed_keys if self.hashed_keys is not None else self.key_columns


class TableManager:
    def __init__(self, sql: Any, config: Any, streams: Iterable[Any] = ()) -> None:
        self._sql = sql
        self._config = config
        self._schema_changes = SchemaChanger(sql)
        self._databases: set[str] = set()
        self._names = TableNames(config.database, streams)
        self._finished: set[tuple[str, str]] = set()
        self._replication_checked = False
        # Table copies: a StreamLoader only if one is needed (surrogate_copy.py), labels for INSERT copies.
        self._loads = Loads(lambda: StreamLoader(config), batching_for(config))

    # ------------------------------------------------------------------ prepare
    def prepare(self, stream: Any) -> LoadTarget:
        key, db, table = self._names.of(stream)
        self._ensure_database(db)
        mode = _value(stream.destination_sync_mode)
        primary_key = [tuple(path) for path in (stream.primary_key or []) if path]
        dedup = mode == "append_dedup" and bool(primary_key)
        if mode == "append_dedup" and not primary_key:
            raise ConfigError(
                f"Stream '{_where(key)}' is append_dedup but has no primary key in the catalog."
            )
        generation = stream.generation_id or 0
        minimum = stream.minimum_generation_id or 0
        truncate = mode == "overwrite" or (minimum == generation and generation > 0)
        plan = plan_stream(stream.stream.json_schema or {}, primary_key if dedup else [], stream.cursor_field)
        for field_name, column in plan.renamed:
            logger.info(
                "Stream %s: field '%s' -> column %s (its name collides with another field's)",
                _where(key), field_name, column,
            )  # fmt: skip

        describe = partial(self._describe, db)
        route = truncate_resume.route(
            self._sql, describe, db, table, truncate=truncate, minimum=minimum, stream=_where(key)
        )
        load_table = route.load_table
        existing = self._describe(db, load_table)
        if existing is None:
            self._create(db, load_table, plan, dedup)
            existing = self._describe(db, load_table)
            if existing is None:
                raise TransientError(f"Table {db}.{load_table} was created but cannot be described yet.")
        else:
            existing, plan = self._check_model(key, db, load_table, existing, dedup, plan)
            existing = self._evolve(db, load_table, existing, plan)
        if route.fold:
            truncate_resume.fold(
                self._sql, describe, db, route.fold, load_table, key_columns=plan.key_columns if dedup else [],
                cursor=column_from(plan.columns, plan.cursor_path),
                deleted_at=column_from(plan.columns, (CDC_DELETED_AT,)), loads=self._loads, stream=_where(key),
            )  # fmt: skip
        shaper, headers = self._shaper(key, existing, plan, dedup, stream)
        logger.info(
            "Stream %s -> %s.%s (%s%s, loads into %s)",
            _where(key), db, table, _model_text(dedup, existing), ", truncate" if truncate else "", load_table,
        )  # fmt: skip
        return LoadTarget(
            key, db, table, load_table, headers, shaper, dedup, staging=route.swap,
            catalog_generations=stream.generation_id is not None,
        )  # fmt: skip

    def _ensure_database(self, db: str) -> None:
        if db not in self._databases:
            self._sql.ensure_database(db)
            self._databases.add(db)

    # ------------------------------------------------------------------ metadata
    def _describe(self, db: str, table: str) -> _Existing | None:
        rows = self._sql.query(
            "SELECT TABLE_MODEL, PRIMARY_KEY FROM information_schema.tables_config "
            "WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s",
            (db, table),
        )
        if not rows:
            return None
        model_text = str(rows[0][0] or "").upper()
        model = {"PRIMARY_KEYS": "PRIMARY", "DUP_KEYS": "DUPLICATE"}.get(model_text, model_text)
        keys = [k.strip().strip("`") for k in str(rows[0][1] or "").split(",") if k.strip()]
        existing = _Existing(model, keys if model == "PRIMARY" else [])
        for row in self._sql.query(f"DESC {_qualified(db, table)}"):
            name, type_text = str(row[0]), str(row[1])
            existing.columns[name.lower()] = (name, parse_type(type_text))
        if model == "PRIMARY" and [k.lower() for k in existing.key_columns] == [SURROGATE_KEY_COLUMN]:
            comments = self._sql.query(
                "SELECT COLUMN_COMMENT FROM information_schema.columns "
                "WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s AND COLUMN_NAME = %s",
                (db, table, existing.key_columns[0]),
            )
            hashed = key_columns_from_comment(str(comments[0][0] or "")) if comments else None
            existing.hashed_keys = hashed if hashed is not None else []
        return existing

    # ------------------------------------------------------------------ DDL
    def _create(self, db: str, table: str, plan: StreamPlan, dedup: bool) -> None:
        if not self._replication_checked:  # before the sync's first CREATE TABLE, so none is half-made
            check_replication(self._sql, self._config)
            self._replication_checked = True
        columns = ",\n  ".join(_column_ddl(c) for c in plan.columns)
        if dedup:
            key_names = [SURROGATE_KEY_COLUMN] if plan.surrogate else plan.key_columns
            keys = ", ".join(quote_identifier(k) for k in key_names)
            model, distribution = f"PRIMARY KEY({keys})", keys
        else:
            # DISTRIBUTED BY RANDOM needs 3.1+; hashing the random raw id spreads rows as evenly everywhere.
            model, distribution = f"DUPLICATE KEY({quote_identifier(RAW_ID)})", quote_identifier(RAW_ID)
        buckets = getattr(self._config, "table_buckets", 0) or 0
        statement = (
            f"CREATE TABLE IF NOT EXISTS {_qualified(db, table)} (\n  {columns}\n) ENGINE=OLAP\n{model}\n"
            f"DISTRIBUTED BY HASH({distribution}){f' BUCKETS {int(buckets)}' if buckets else ''}"
        )
        properties = dict(getattr(self._config, "table_properties", {}) or {})
        if properties:
            statement += (
                "\nPROPERTIES ("
                + ", ".join(f"{quote_literal(k)} = {quote_literal(v)}" for k, v in properties.items())
                + ")"
            )
        try:
            self._sql.execute(statement)
        except StarRocksSqlError as exc:
            raise replication_error(exc, self._config) or exc from None

    def _check_model(
        self,
        stream: tuple[str | None, str],
        db: str,
        table: str,
        existing: _Existing,
        dedup: bool,
        plan: StreamPlan,
    ) -> tuple[_Existing, StreamPlan]:
        """A table whose model or key no longer fits the stream is rebuilt in place (table_rebuild.py); one
        that fits keeps the key form it has (natural, or the surrogate `_airbyte_pk`: StreamPlan.fit_to)."""
        natural = existing.model == "PRIMARY" and existing.hashed_keys is None
        if model_fits(
            existing.model, existing.logical_keys, dedup, plan.key_columns,
            natural_key=natural, wants_surrogate=plan.surrogate,
        ):  # fmt: skip
            return existing, (plan.fit_to(existing.hashed_keys) if dedup else plan)
        rebuilt = rebuild(
            self._sql, db, table, existing.model, existing.logical_keys, existing.columns,
            dedup=dedup, key_columns=plan.key_columns, wanted_columns=[c.name for c in plan.columns],
            cursor=column_from(plan.columns, plan.cursor_path),
            deleted_at=column_from(plan.columns, (CDC_DELETED_AT,)), rank_column=plan.rank_column,
            create=lambda name, kept: self._create(db, name, replace(plan, columns=[*plan.columns, *kept]), dedup),
            describe=partial(self._describe, db), loads=self._loads, stream=_where(stream),
        )  # fmt: skip
        return rebuilt or existing, plan

    def _evolve(self, db: str, table: str, existing: _Existing, plan: StreamPlan) -> _Existing:
        """ADD COLUMN for new fields; MODIFY COLUMN where StarRocks widens without loss; keep the rest.

        Each change is computed from the table as it is when it is sent (schema_change.py), so a change an
        earlier attempt made, or one still running, is never sent twice.
        """
        current = existing

        def missing() -> str:
            nonlocal current
            current = self._describe(db, table) or current
            added = [c for c in plan.columns if c.name.lower() not in current.columns]
            if added:
                logger.info("Table %s.%s: adding columns %s", db, table, ", ".join(c.name for c in added))
            return ", ".join(f"ADD COLUMN {_column_ddl(c, nullable=True)}" for c in added)

        try:
            self._schema_changes.apply(db, table, missing)
        except JobCancelled as exc:
            raise TransientError(
                f"StarRocks cancelled adding columns to {db}.{table}: {exc.job.message or 'no reason given'}. "
                "The next sync adds them again; if it keeps failing, see SHOW ALTER TABLE COLUMN."
            ) from None
        existing = self._describe(db, table) or current

        def widenings() -> str:
            nonlocal current
            current = self._describe(db, table) or current
            widened = _widenings(current, plan)
            if widened:
                logger.info(
                    "Table %s.%s: widening %s", db, table, ", ".join(f"{n} to {t.text}" for n, t in widened)
                )
            return ", ".join(f"MODIFY COLUMN {quote_identifier(n)} {t.text} NULL" for n, t in widened)

        try:
            self._schema_changes.apply(db, table, widenings)
        except JobCancelled as exc:  # data StarRocks could not convert: keep the old type
            logger.warning(
                "Table %s.%s: StarRocks cancelled widening columns (%s); values are converted", db, table, exc
            )
        except StarRocksSqlError as exc:  # an older StarRocks refusing a change: keep the old type
            logger.warning("Table %s.%s: cannot widen columns (%s); values are converted", db, table, exc)
        return self._describe(db, table) or existing

    # ------------------------------------------------------------------ shaper
    def _shaper(
        self,
        stream: tuple[str | None, str],
        existing: _Existing,
        plan: StreamPlan,
        dedup: bool,
        configured: Any,
    ) -> tuple[RowShaper, dict[str, str]]:
        plans = []
        key_names = {k.lower() for k in plan.key_columns}
        for column in plan.columns:
            if not column.source:
                continue
            actual_name, actual = existing.columns[column.name.lower()]
            wanted = parse_type(column.type)
            reason = TYPECAST_ERROR if actual.kind != wanted.kind and actual.kind != JSON else None
            kind = plan.field_kinds.get(column.name)
            plans.append(
                FieldPlan(column.source, actual_name, actual, kind, column.name.lower() in key_names, reason)
            )
        # The cursor orders as the schema says (an integer cursor kept in an old VARCHAR column must still
        # compare as a number), so its type comes from the schema, not from the column.
        cursor_type = None
        if plan.cursor_path and plan.cursor_kind in ORDERED_KINDS:
            cursor_type = parse_type(kind_type(plan.cursor_kind or JSON))
        rank = existing.columns.get((plan.rank_column or "").lower())
        surrogate = dedup and existing.hashed_keys is not None
        key_types = [p.sr_type for p in plans if p.key]
        shaper = RowShaper(
            stream,
            plans,
            generation_id=configured.generation_id or 0,
            sync_id=configured.sync_id,
            primary_key=plan.key_paths if dedup else (),
            cursor=plan.cursor_path if cursor_type is not None else None,
            cursor_type=cursor_type,
            surrogate_key=existing.key_columns[0] if surrogate else None,
            cursor_rank=rank[0] if dedup and rank is not None else None,
            check_key_size=dedup and not surrogate and any(t.kind == STRING for t in key_types),
        )
        headers: dict[str, str] = {}
        if dedup:
            condition = merge_condition(plans, plan, rank[0] if rank is not None else None)
            if condition:
                headers["merge_condition"] = condition
        return shaper, headers

    # ------------------------------------------------------------------ finish
    def finish(self, target: LoadTarget, complete: bool) -> None:
        if not target.staging or (target.database, target.table) in self._finished:
            return
        db, final, staging = target.database, target.table, target.load_table
        if not complete:
            logger.info(
                "Stream %s did not complete: %s.%s is untouched; staging %s keeps this generation's rows for the retry",
                _where(target.stream), db, final, staging,
            )  # fmt: skip
            return
        if self._describe(db, final) is None:
            rename_table(self._sql, db, staging, final)
        else:
            swap_tables(self._sql, db, final, staging)
            drop_owned_table(self._sql, db, staging)
        self._finished.add((db, final))
        logger.info("Stream %s: %s.%s replaced by the rows of this sync", _where(target.stream), db, final)


# ---------------------------------------------------------------------- helpers


def _column_ddl(column: ColumnDef, nullable: bool | None = None) -> str:
    null = column.nullable if nullable is None else nullable
    comment = f" COMMENT {quote_literal(column.comment)}" if column.comment else ""
    return f"{quote_identifier(column.name)} {column.type} {'NULL' if null else 'NOT NULL'}{comment}"


def _widenings(existing: _Existing, plan: StreamPlan) -> list[tuple[str, SrType]]:
    keys = {k.lower() for k in (*existing.key_columns, *plan.key_columns)}  # key fields stay NOT NULL
    widened = []
    for column in plan.columns:
        if column.name.lower() not in existing.columns or not column.source:
            continue
        name, old = existing.columns[column.name.lower()]
        new = parse_type(column.type)
        if name.lower() not in keys and can_widen(old, new):
            widened.append((name, new))
    return widened


def _model_text(dedup: bool, existing: _Existing) -> str:
    if not dedup:
        return "Duplicate Key"
    if existing.hashed_keys is not None:
        return f"Primary Key {SURROGATE_KEY_COLUMN} over ({', '.join(existing.hashed_keys)})"
    return f"Primary Key ({', '.join(existing.key_columns)})"


def _qualified(db: str, table: str) -> str:
    return f"{quote_identifier(db)}.{quote_identifier(table)}"


def _value(mode: Any) -> str:
    return str(getattr(mode, "value", mode))


def _where(stream: tuple[str | None, str]) -> str:
    namespace, name = stream
    return f"{namespace}.{name}" if namespace else name
