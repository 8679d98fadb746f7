"""What the configured catalog asks of one stream's table, before StarRocks is asked anything.

Contract (tables.py calls these):
- `plan_stream(schema, primary_key, cursor_field) -> StreamPlan`: the columns in table order (surrogate key,
  key fields, `_airbyte_*`, the cursor's rank, fields), their types and sources, the key and the cursor.
- `plan.fit_to(hashed_keys)`: the same plan for a table that already exists with the key form it has.
- `merge_condition(field_plans, plan, rank_column)`: the column Stream Load's `merge_condition` may name.

Keys (key_plan.py): a key StarRocks can hold as its PRIMARY KEY stays that; any other gets the surrogate
`_airbyte_pk`, and the key fields become NOT NULL columns of their usual types. Cursors: `merge_condition`
names the cursor column when StarRocks can compare it (numbers, dates, date-times, booleans: fe
`Load.checkMergeCondition` refuses VARCHAR and JSON); a plain-string cursor (or a time, which is text) gets
the rank column `_airbyte_rank_<cursor column>` (cursor_rank.py), named after its cursor so that a stream
whose cursor changes gets a new rank column (null in old rows, so newer records replace them) rather than
ranks of two different fields compared with each other. Any other cursor (a nested one of another type, one
kept in a column of another type, an object or union) gets no condition: the later load wins.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from destination_starrocks.cursor_rank import RANK_TYPE
from destination_starrocks.key_plan import SURROGATE_TYPE, needs_surrogate, surrogate_comment
from destination_starrocks.naming import (
    AIRBYTE_COLUMNS,
    COLUMN_NAME_MAX,
    CURSOR_RANK_PREFIX,
    RESERVED_COLUMNS,
    SURROGATE_KEY_COLUMN,
    ascii_name,
    column_name,
    column_names,
    renamed_by_collision,
    with_hash,
)
from destination_starrocks.row_shaper import WHOLE_RECORD, FieldPlan
from destination_starrocks.type_mapping import (
    JSON,
    MERGE_CONDITION_KINDS,
    STRING,
    TIME,
    ColumnDef,
    column_type,
    schema_kind,
)

RAW_ID, EXTRACTED_AT, META, GENERATION_ID = AIRBYTE_COLUMNS
DATA_COLUMN = "_airbyte_data"  # the whole record, for streams whose schema declares no properties
AIRBYTE_COLUMN_DEFS = (
    ColumnDef(RAW_ID, "VARCHAR(36)", nullable=False),
    ColumnDef(EXTRACTED_AT, "DATETIME", nullable=False),
    ColumnDef(META, "JSON"),
    ColumnDef(GENERATION_ID, "BIGINT"),
)
RANKED_CURSOR_KINDS = frozenset({STRING, TIME})  # cursors merge_condition cannot compare as they are


@dataclass
class StreamPlan:
    """What the catalog asks for one stream, before looking at StarRocks."""

    columns: list[ColumnDef]  # in table order: surrogate key, keys (dedup), _airbyte_*, fields
    field_kinds: dict[str, str]  # column -> kind the schema asks for
    key_columns: list[str]  # the primary-key fields' columns
    key_paths: list[tuple[str, ...]]
    cursor_path: tuple[str, ...] | None
    cursor_kind: str | None
    surrogate: bool = False  # the PRIMARY KEY is SURROGATE_KEY_COLUMN
    rank_column: str | None = None  # the cursor's rank column (a string cursor of a dedup stream)
    renamed: list[tuple[str, str]] = field(default_factory=list)  # (field, column) suffixed on a collision

    def fit_to(self, hashed_keys: list[str] | None) -> StreamPlan:
        """This plan for an existing Primary Key table: one keyed on the fields themselves (created before
        surrogate keys, `hashed_keys` None) keeps that key, one keyed on the surrogate keeps the surrogate."""
        columns = [c for c in self.columns if c.name != SURROGATE_KEY_COLUMN]
        surrogate = hashed_keys is not None
        if surrogate:
            columns.insert(0, _surrogate_def(self.key_columns))
        return StreamPlan(
            columns, self.field_kinds, self.key_columns, self.key_paths, self.cursor_path, self.cursor_kind,
            surrogate, self.rank_column, self.renamed,
        )  # fmt: skip


def plan_stream(
    schema: dict, primary_key: list[tuple[str, ...]], cursor_field: Iterable[str] | None
) -> StreamPlan:
    properties = schema.get("properties") if isinstance(schema, dict) else None
    properties = properties if isinstance(properties, dict) else {}
    names = column_names(properties)
    renamed = [(f, c) for f, c in names.items() if renamed_by_collision(f, c, column_name)]
    used = {n.lower() for n in names.values()} | set(RESERVED_COLUMNS)
    key_columns: list[str] = []
    key_defs: list[ColumnDef] = []
    kinds: dict[str, str] = {}
    for path in primary_key:
        field_schema = nested_schema(properties, path)
        if len(path) == 1 and path[0] in names:
            name = names[path[0]]
        else:  # a nested key path (or a key the schema does not declare) gets a column of its own
            name = column_name("_".join(path))
            if name.lower() in used:
                name = with_hash(name, chr(0).join(path), COLUMN_NAME_MAX)
            used.add(name.lower())
        key_columns.append(name)
        key_defs.append(ColumnDef(name, column_type(field_schema), nullable=False, source=path))
        kinds[name] = schema_kind(field_schema)
    surrogate = bool(primary_key) and needs_surrogate([kinds[name] for name in key_columns])
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
    cursor_kind = schema_kind(nested_schema(properties, cursor)) if cursor else None
    derived: list[ColumnDef] = []
    if surrogate:
        derived.append(_surrogate_def(key_columns))
    rank_column = None
    if primary_key and cursor and cursor_kind in RANKED_CURSOR_KINDS and cursor not in primary_key:
        base = names[cursor[0]] if len(cursor) == 1 and cursor[0] in names else ascii_name("_".join(cursor))
        rank_column = CURSOR_RANK_PREFIX + base
        if len(rank_column) > COLUMN_NAME_MAX:
            rank_column = with_hash(rank_column, chr(0).join(cursor), COLUMN_NAME_MAX)
        comment = f"Airbyte: order-preserving rank of the cursor {'.'.join(cursor)}, for merge_condition"
        ranks = [ColumnDef(rank_column, RANK_TYPE, comment=comment)]
    else:
        ranks = []
    return StreamPlan(
        [*derived, *key_defs, *AIRBYTE_COLUMN_DEFS, *ranks, *field_defs],
        kinds,
        key_columns,
        list(primary_key),
        cursor,
        cursor_kind,
        surrogate,
        rank_column,
        renamed,
    )


def _surrogate_def(key_columns: Sequence[str]) -> ColumnDef:
    return ColumnDef(
        SURROGATE_KEY_COLUMN, SURROGATE_TYPE, nullable=False, comment=surrogate_comment(key_columns)
    )


def merge_condition(plans: Sequence[FieldPlan], plan: StreamPlan, rank_column: str | None) -> str | None:
    """The column Stream Load's merge_condition compares (StarRocks refuses VARCHAR/JSON ones), or None."""
    cursor_plan = next((p for p in plans if p.path == plan.cursor_path), None)
    if (
        cursor_plan is not None
        and len(cursor_plan.path) == 1
        and not cursor_plan.key
        and cursor_plan.sr_type.kind in MERGE_CONDITION_KINDS
        and cursor_plan.sr_type.kind == plan.cursor_kind  # StarRocks compares the column's values
    ):
        return cursor_plan.column
    if rank_column is not None and plan.cursor_kind in RANKED_CURSOR_KINDS:
        return rank_column
    return None


def nested_schema(properties: dict, path: tuple[str, ...] | None) -> Any:
    schema: Any = {"properties": properties}
    for part in path or ():
        props = schema.get("properties") if isinstance(schema, dict) else None
        schema = props.get(part, {}) if isinstance(props, dict) else {}
    return schema
