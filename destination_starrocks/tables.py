"""Table lifecycle per stream and sync mode: database, table model, schema evolution, staging + SWAP.

Contract (what write_command.py and writer.py call):
- `TableManager(sql, config).prepare(configured_stream) -> LoadTarget`, once per stream, in catalog order,
  before any load: creates the database and the table (or the staging table), evolves an existing table's
  schema, and builds the stream's RowShaper from the columns the table really has.
- `finish(target, complete)`: at the end of a stream. For an overwrite or truncate refresh, `complete=True`
  swaps the staging table in (`ALTER TABLE final SWAP WITH staging`, then drops the old one; a first sync
  renames staging instead). `complete=False` leaves both tables alone: the final table is untouched, and the
  staging rows of this generation stay for the retry, because the STATEs after them were already released
  and the source will resume after them (dropping them would lose those records). What the next sync does
  with them (reuse, fold into the final table, or drop when a newer refresh replaces them) is
  truncate_resume.py's; a table whose model or key no longer fits is rebuilt by table_rebuild.py.

Table models (https://docs.starrocks.io/docs/table_design/table_types/): append and overwrite streams get a
Duplicate Key table, `append_dedup` a Primary Key table keyed on the stream's primary key (NOT NULL columns
first; a nested key path gets a column of its own) and distributed by it. Rows of a Primary Key table carry
`__op` (listed in the Stream Load `columns` header: 0 upsert, 1 delete for `_ab_cdc_deleted_at`), and
`merge_condition` on the cursor column keeps a stored row whose cursor is larger (ties: the later load
wins) — "Conditional updates", docs/en/loading/Load_to_Primary_Key_tables.md. Deletes ignore it (same page).

A truncate happens for `overwrite`, and for refreshes where `minimum_generation_id == generation_id > 0`
(Airbyte's rule: an append stream of generation N with minimum 0 keeps older generations' rows).

Schema changes are asynchronous in StarRocks (ALTER TABLE page: "Operations on ... column ... are
asynchronous"; one schema change per table at a time), so each ALTER is followed by polling `DESC` until the
change is visible.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any

from destination_starrocks import truncate_resume
from destination_starrocks.errors import ConfigError, StarRocksSqlError, TransientError
from destination_starrocks.naming import (
    AIRBYTE_COLUMNS,
    column_name,
    column_names,
    database_name,
    quote_identifier,
    quote_literal,
    short_hash,
    table_name,
)
from destination_starrocks.row_shaper import CDC_DELETED_AT, WHOLE_RECORD, FieldPlan, RowShaper
from destination_starrocks.table_rebuild import column_from, model_fits, rebuild
from destination_starrocks.type_mapping import (
    COMPARABLE_KINDS,
    JSON,
    TYPECAST_ERROR,
    ColumnDef,
    SrType,
    can_widen,
    column_type,
    kind_type,
    parse_type,
    schema_kind,
)

logger = logging.getLogger("airbyte")

RAW_ID, EXTRACTED_AT, META, GENERATION_ID = AIRBYTE_COLUMNS
DATA_COLUMN = "_airbyte_data"  # the whole record, for streams whose schema declares no properties
AIRBYTE_COLUMN_DEFS = (
    ColumnDef(RAW_ID, "VARCHAR(36)", nullable=False),
    ColumnDef(EXTRACTED_AT, "DATETIME", nullable=False),
    ColumnDef(META, "JSON"),
    ColumnDef(GENERATION_ID, "BIGINT"),
)
SCHEMA_CHANGE_TIMEOUT_SECONDS = 600.0
SCHEMA_CHANGE_POLL_SECONDS = (0.05, 0.2, 0.5, 1.0, 2.0)  # then every 2 s


@dataclass(frozen=True)
class LoadTarget:
    stream: tuple[str | None, str]  # (namespace, name) as in the catalog
    database: str
    table: str  # final table
    load_table: str  # where Stream Loads go (== table, or the staging table)
    headers: dict[str, str]  # extra Stream Load headers: "columns" (with __op), "merge_condition"
    shaper: RowShaper
    dedup: bool  # append_dedup: Primary Key table
    staging: bool = False  # overwrite / truncate refresh: finish() swaps load_table in
    catalog_generations: bool = True  # the catalog gave generation ids (a caller that knows refreshes)


@dataclass
class _Existing:
    model: str  # "PRIMARY" / "DUPLICATE" / other
    key_columns: list[str]
    columns: dict[str, tuple[str, SrType]] = field(default_factory=dict)  # lower name -> (name, type)


@dataclass
class _StreamPlan:
    """What the catalog asks for one stream, before looking at StarRocks."""

    columns: list[ColumnDef]  # in table order: keys (dedup), _airbyte_*, fields
    field_kinds: dict[str, str]  # column -> kind the schema asks for
    key_columns: list[str]
    key_paths: list[tuple[str, ...]]
    cursor_path: tuple[str, ...] | None
    cursor_kind: str | None


class TableManager:
    def __init__(self, sql: Any, config: Any) -> None:
        self._sql = sql
        self._config = config
        self._databases: set[str] = set()
        self._claimed: dict[tuple[str, str], tuple[str | None, str]] = {}  # (db, table lower) -> stream
        self._finished: set[tuple[str, str]] = set()

    # ------------------------------------------------------------------ prepare
    def prepare(self, stream: Any) -> LoadTarget:
        source = stream.stream
        key = (source.namespace or None, source.name)
        db = database_name(source.namespace or self._config.database)
        self._ensure_database(db)
        table = self._claim(db, getattr(stream, "destination_object_name", None) or source.name, key)
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
        plan = _plan_stream(source.json_schema or {}, primary_key if dedup else [], stream.cursor_field)

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
            existing = self._check_model(key, db, load_table, existing, dedup, plan)
            existing = self._evolve(db, load_table, existing, plan)
        if route.fold:
            truncate_resume.fold(
                self._sql, describe, db, route.fold, load_table, key_columns=plan.key_columns if dedup else [],
                cursor=column_from(plan.columns, plan.cursor_path),
                deleted_at=column_from(plan.columns, (CDC_DELETED_AT,)), stream=_where(key),
            )  # fmt: skip
        shaper, headers = self._shaper(key, existing, plan, dedup, stream)
        logger.info(
            "Stream %s -> %s.%s (%s%s, loads into %s)",
            _where(key), db, table, "Primary Key" if dedup else "Duplicate Key",
            ", truncate" if truncate else "", load_table,
        )  # fmt: skip
        return LoadTarget(
            key, db, table, load_table, headers, shaper, dedup, staging=route.swap,
            catalog_generations=stream.generation_id is not None,
        )  # fmt: skip

    def _claim(self, db: str, name: str, stream: tuple[str | None, str]) -> str:
        """Streams whose names sanitise to one table get `_<hash8>` after the first (catalog order)."""
        table = table_name(name)
        owner = self._claimed.get((db, table.lower()))
        if owner is not None and owner != stream:
            table = column_name(f"{table}_{short_hash(name)}")
        self._claimed[(db, table.lower())] = stream
        return table

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
        return existing

    # ------------------------------------------------------------------ DDL
    def _create(self, db: str, table: str, plan: _StreamPlan, dedup: bool) -> None:
        columns = ",\n  ".join(
            f"{quote_identifier(c.name)} {c.type} {'NULL' if c.nullable else 'NOT NULL'}"
            for c in plan.columns
        )
        if dedup:
            keys = ", ".join(quote_identifier(k) for k in plan.key_columns)
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
        self._sql.execute(statement)

    def _check_model(
        self,
        stream: tuple[str | None, str],
        db: str,
        table: str,
        existing: _Existing,
        dedup: bool,
        plan: _StreamPlan,
    ) -> _Existing:
        """A table whose model or key no longer fits the stream is rebuilt in place (table_rebuild.py)."""
        if model_fits(existing.model, existing.key_columns, dedup, plan.key_columns):
            return existing
        return rebuild(
            self._sql, db, table, existing.model, existing.key_columns, existing.columns,
            dedup=dedup, key_columns=plan.key_columns, wanted_columns=[c.name for c in plan.columns],
            cursor=column_from(plan.columns, plan.cursor_path),
            deleted_at=column_from(plan.columns, (CDC_DELETED_AT,)),
            create=lambda name, kept: self._create(db, name, replace(plan, columns=[*plan.columns, *kept]), dedup),
            describe=partial(self._describe, db), stream=_where(stream),
        ) or existing  # fmt: skip

    def _evolve(self, db: str, table: str, existing: _Existing, plan: _StreamPlan) -> _Existing:
        """ADD COLUMN for new fields; MODIFY COLUMN where StarRocks widens without loss; keep the rest."""
        added = [c for c in plan.columns if c.name.lower() not in existing.columns]
        if added:
            clauses = ", ".join(f"ADD COLUMN {quote_identifier(c.name)} {c.type} NULL" for c in added)
            logger.info("Table %s.%s: adding columns %s", db, table, ", ".join(c.name for c in added))
            self._alter_and_wait(db, table, clauses, {c.name.lower(): parse_type(c.type).text for c in added})
            existing = self._describe(db, table) or existing
        widened = []
        for column in plan.columns:
            name, old = existing.columns[column.name.lower()]
            new = parse_type(column.type)
            if name.lower() not in {k.lower() for k in existing.key_columns} and can_widen(old, new):
                widened.append((name, new))
        if widened:
            clauses = ", ".join(f"MODIFY COLUMN {quote_identifier(n)} {t.text} NULL" for n, t in widened)
            logger.info(
                "Table %s.%s: widening %s", db, table, ", ".join(f"{n} to {t.text}" for n, t in widened)
            )
            try:
                self._alter_and_wait(db, table, clauses, {n.lower(): t.text for n, t in widened})
            except StarRocksSqlError as exc:  # an older StarRocks refusing a change: keep the old type
                logger.warning("Table %s.%s: cannot widen columns (%s); values are converted", db, table, exc)
            existing = self._describe(db, table) or existing
        return existing

    def _alter_and_wait(self, db: str, table: str, clauses: str, expected: dict[str, str]) -> None:
        self._sql.execute(f"ALTER TABLE {_qualified(db, table)} {clauses}")
        deadline = time.monotonic() + SCHEMA_CHANGE_TIMEOUT_SECONDS
        for attempt in range(1_000_000):
            current = self._describe(db, table)
            if current is not None and all(
                name in current.columns and current.columns[name][1].text == text
                for name, text in expected.items()
            ):
                return
            if time.monotonic() > deadline:
                raise TransientError(
                    f"Schema change of {db}.{table} did not finish in {SCHEMA_CHANGE_TIMEOUT_SECONDS:.0f} s."
                )
            time.sleep(SCHEMA_CHANGE_POLL_SECONDS[min(attempt, len(SCHEMA_CHANGE_POLL_SECONDS) - 1)])

    # ------------------------------------------------------------------ shaper
    def _shaper(
        self,
        stream: tuple[str | None, str],
        existing: _Existing,
        plan: _StreamPlan,
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
        if plan.cursor_path and plan.cursor_kind in COMPARABLE_KINDS:
            cursor_type = parse_type(kind_type(plan.cursor_kind or JSON))
        shaper = RowShaper(
            stream,
            plans,
            generation_id=configured.generation_id or 0,
            sync_id=configured.sync_id,
            primary_key=plan.key_paths if dedup else (),
            cursor=plan.cursor_path if cursor_type is not None else None,
            cursor_type=cursor_type,
        )
        headers: dict[str, str] = {}
        if dedup:
            names = [name for name, _ in existing.columns.values()]
            headers["columns"] = ",".join(quote_identifier(n) for n in names) + ",__op"
            cursor_plan = next((p for p in plans if p.path == plan.cursor_path), None)
            if (
                cursor_plan is not None
                and len(cursor_plan.path) == 1
                and not cursor_plan.key
                and cursor_plan.sr_type.kind in COMPARABLE_KINDS
                and cursor_plan.sr_type.kind == plan.cursor_kind  # StarRocks compares the column's values
            ):
                headers["merge_condition"] = cursor_plan.column
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
            self._sql.execute(f"ALTER TABLE {_qualified(db, staging)} RENAME {quote_identifier(final)}")
        else:
            # Atomic exchange of the two tables (ALTER TABLE page, "Swap"); the old data then sits in staging.
            self._sql.execute(f"ALTER TABLE {_qualified(db, final)} SWAP WITH {quote_identifier(staging)}")
            self._sql.execute(f"DROP TABLE IF EXISTS {_qualified(db, staging)} FORCE")
        self._finished.add((db, final))
        logger.info("Stream %s: %s.%s replaced by the rows of this sync", _where(target.stream), db, final)


# ---------------------------------------------------------------------- catalog -> plan


def _plan_stream(
    schema: dict, primary_key: list[tuple[str, ...]], cursor_field: Iterable[str] | None
) -> _StreamPlan:
    properties = schema.get("properties") if isinstance(schema, dict) else None
    properties = properties if isinstance(properties, dict) else {}
    names = column_names(properties)
    used = {n.lower() for n in names.values()} | {c.name.lower() for c in AIRBYTE_COLUMN_DEFS}
    key_columns: list[str] = []
    key_defs: list[ColumnDef] = []
    kinds: dict[str, str] = {}
    for path in primary_key:
        field_schema = _nested_schema(properties, path)
        if len(path) == 1 and path[0] in names:
            name = names[path[0]]
        else:  # a nested key path (or a key the schema does not declare) gets a column of its own
            name = column_name("_".join(path))
            if name.lower() in used:
                name = column_name(f"{name}_{short_hash(chr(0).join(path))}")
            used.add(name.lower())
        key_columns.append(name)
        key_defs.append(ColumnDef(name, column_type(field_schema, key=True), nullable=False, source=path))
        kinds[name] = schema_kind(field_schema)
    key_lower = {k.lower() for k in key_columns}
    field_defs = []
    for field_name, field_schema in properties.items():
        name = names[field_name]
        kinds.setdefault(name, schema_kind(field_schema))
        if name.lower() not in key_lower:
            field_defs.append(ColumnDef(name, column_type(field_schema), source=(field_name,)))
    if not properties:
        # A schema without properties (`{"type": "object"}`, an empty schema): there are no typed columns to
        # put the data in, so the whole record goes into one JSON column rather than being dropped.
        field_defs.append(ColumnDef(DATA_COLUMN, "JSON", source=WHOLE_RECORD))
        kinds.setdefault(DATA_COLUMN, JSON)
    cursor = tuple(cursor_field or ()) or None
    cursor_kind = schema_kind(_nested_schema(properties, cursor)) if cursor else None
    return _StreamPlan(
        [*key_defs, *AIRBYTE_COLUMN_DEFS, *field_defs],
        kinds,
        key_columns,
        list(primary_key),
        cursor,
        cursor_kind,
    )


def _nested_schema(properties: dict, path: tuple[str, ...] | None) -> Any:
    schema: Any = {"properties": properties}
    for part in path or ():
        props = schema.get("properties") if isinstance(schema, dict) else None
        schema = props.get(part, {}) if isinstance(props, dict) else {}
    return schema


def _qualified(db: str, table: str) -> str:
    return f"{quote_identifier(db)}.{quote_identifier(table)}"


def _value(mode: Any) -> str:
    return str(getattr(mode, "value", mode))


def _where(stream: tuple[str | None, str]) -> str:
    namespace, name = stream
    return f"{namespace}.{name}" if namespace else name
