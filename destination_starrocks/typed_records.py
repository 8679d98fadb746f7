"""Typed RECORD lines: msgspec decodes and checks a line against its stream's columns in one C call.

Contract (what row_shaper.py and writer.py use):
- `compile_typed(shaper, runtime) -> TypedRecords | None`: with the general path's runtime (the
  `_airbyte_extracted_at` cache); None when the stream is outside the domain below.
- `TypedRecords.decode(line) -> record`: the RECORD message as a struct (`record.stream`, `.namespace`,
  `.emitted_at`, `.data`); raises one of `DECODE_ERRORS` for any line it does not take.
- `TypedRecords.shape(data, emitted_at_ms) -> bytearray | None`: the row `RowShaper.shape` would write from
  the same line (same values, `_airbyte_*` columns and `_airbyte_meta` changes), in a scratch buffer that the
  next call overwrites (the caller copies it into a load body at once); None when the row must go the
  general way after all (past StarRocks' 16 MB JSON limit, whose JSON values the general path nulls).

Why: in the general path (orjson.loads, then the generated `shape()`), every field of every record costs a
dict lookup and a type test in Python, and every nested object or array is built as Python dicts and lists
and written out again. Here a per-stream msgspec type makes those tests part of decoding, in C: an integer
column only takes JSON integers within its range, a VARCHAR only strings short enough, and so on; only
values that need a change of form (dates, date-times, times, decimals) are touched in Python. Measured on the
`bulk` records (the writer's loop, loads answered at once): 1.48x the parse floor's instructions per record
under callgrind (bench/instructions.py), against 1.92x; 1.8x its time in `unit_tests/perf_shape.py`, against 2.1x.

Exactness: a line is taken here only when the general path would load the same row from it; any other line
raises and the writer reads it the general way (which then loads it, or refuses it, as it always did).
- Strict types (msgspec's default): no string read as a number, no number as a boolean, no float as an
  integer; a value of another type goes to the general path, whose coercer records the change.
- No unknown keys at any level (`forbid_unknown_fields`): msgspec skips an unknown key's value without
  checking its UTF-8, escapes or number range, where orjson refuses the whole line.
- `record.meta` must be absent or null (the source's own changes are merged by the general path).
- Integers, also inside JSON values, within 64-bit signed: orjson reads an integer beyond 64 bits as a float,
  msgspec as an exact integer, and StarRocks' JSON reader fails on one (be/src/util/json_converter.cpp:
  `get_number()` has no big-integer case). JSON values nest at most JSON_DEPTH deep.
- Keys of `data` that are not columns make the line go the general way; without them the row is the same
  (StarRocks' JSON reader skips keys that are not columns, see row_shaper.py `_compile`). So does a key
  named like an Airbyte column (`_airbyte_raw_id`...), even with null: the decoder fills those itself.
The domain: append streams (no primary key, no derived key columns) whose columns are top-level fields
under their own names. `unit_tests/test_typed_records.py` compares both paths on generated records.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

import msgspec

from destination_starrocks.type_mapping import (
    BIGINT,
    BIGINT_MAX,
    BIGINT_MIN,
    BOOLEAN,
    DATE,
    DATETIME,
    DECIMAL,
    DOUBLE,
    JSON_MAX_BYTES,
    LARGEINT,
    STRING,
    TIME,
    Change,
    coercer,
)

if TYPE_CHECKING:
    from destination_starrocks.row_shaper import FieldPlan, RowShaper

# Nesting a JSON column's value may have on the typed path (deeper goes the general way): the decoder's
# type grows as 2**depth (measured: 1.2 ms to build at 6, 5.6 ms at 8).
JSON_DEPTH = 6
RECORD_PREFIX = b'{"type":"RECORD"'  # how Airbyte writes RECORD lines; others are not tried here
AIRBYTE_COLUMNS = ("_airbyte_raw_id", "_airbyte_extracted_at", "_airbyte_meta", "_airbyte_generation_id")
_INT64 = Annotated[int, msgspec.Meta(ge=BIGINT_MIN, le=BIGINT_MAX)]


def _json_value(depth: int) -> Any:
    """Any JSON value nested at most `depth` deep, integers within 64-bit signed (see the module's docstring)."""
    value: Any = None | bool | _INT64 | float | str
    for _ in range(depth):
        value = None | bool | _INT64 | float | str | dict[str, value] | list[value]  # type: ignore[valid-type]
    return value


_JSON_VALUE = _json_value(JSON_DEPTH)


def _integer(low: int, high: int) -> Any:
    # msgspec takes bounds within 64 bits only; a LARGEINT value beyond them goes the general way.
    return Annotated[int, msgspec.Meta(ge=max(low, BIGINT_MIN), le=min(high, BIGINT_MAX))]


def _column_type(plan: FieldPlan) -> tuple[Any, bool] | None:
    """(msgspec type of the column's values, whether the coercer must see each value); None: not here."""
    sr_type = plan.sr_type
    kind = sr_type.kind
    if kind in (BIGINT, LARGEINT):
        return _integer(sr_type.low, sr_type.high), False
    if kind == DOUBLE:
        return _INT64 | float, False
    if kind == BOOLEAN:
        return bool, False
    if kind == STRING and plan.field_kind != TIME:
        # The general path's test: at most 4 bytes per character, so len(v) <= length // 4 always fits.
        return Annotated[str, msgspec.Meta(max_length=sr_type.length // 4)], False
    if kind in (STRING, DATE, DATETIME):  # TIME-valued VARCHAR, dates, date-times: the coercer parses
        return str, True
    if kind == DECIMAL:
        return _INT64 | float | str, True
    fast, _ = coercer(sr_type, plan.field_kind)
    if object in fast:  # JSON, and column types this connector does not create: loaded as they are
        return _JSON_VALUE, False
    return None


DECODE_ERRORS = (msgspec.DecodeError,)  # msgspec's ValidationError is a DecodeError


@dataclass(frozen=True)
class TypedRecords:
    decode: Callable[[bytes], Any]
    shape: Callable[[Any, Any], bytearray | None]


def _layout(plan: FieldPlan) -> tuple[Any, ...]:
    """What `_column_type` reads of a plan: equal layouts give equal decoders."""
    t = plan.sr_type
    return (t.kind, t.length, t.low, t.high, plan.field_kind)


@functools.lru_cache(maxsize=256)
def _decoder(
    columns: tuple[tuple[str, tuple[Any, ...]], ...], generation_id: int, meta: bytes
) -> msgspec.json.Decoder:
    """The decoder of streams with these columns, generation and `_airbyte_meta` (one sync's streams of one
    schema share it): it fills three of the four Airbyte columns itself, so `shape` sets only the fourth."""
    from destination_starrocks.row_shaper import FieldPlan, raw_ids
    from destination_starrocks.type_mapping import SrType

    # Attribute names are f0, f1, ... (a column name need not be a Python identifier); `rename` maps them
    # to the column names for decoding and encoding alike, which is right because column == field name.
    fields: list[tuple[str, Any, Any]] = []
    rename: dict[str, str] = {}
    for index, (column, (kind, length, low, high, field_kind)) in enumerate(columns):
        plan = FieldPlan((column,), column, SrType(kind, kind, length=length, low=low, high=high), field_kind)
        value_type, _ = _column_type(plan)  # type: ignore[misc]
        fields.append((f"f{index}", value_type | None, None))
        rename[f"f{index}"] = column
    # The Airbyte columns: no JSON value decodes as UnsetType, so a line whose data has a key of that name (the
    # general path replaces its value) goes the general way; without one the decoder puts in the defaults: a
    # new raw id (a generator of this decoder's own, one thread decodes), the `_airbyte_meta` without changes
    # and the generation. Defaults instead of four attribute writes per record in `shape`: 37,877 -> 36,853
    # instructions per bulk record (bench/instructions.py --records 50000).
    defaults = (msgspec.field(default_factory=raw_ids().__next__), None, msgspec.Raw(meta), generation_id)
    for index, (column, default) in enumerate(zip(AIRBYTE_COLUMNS, defaults, strict=True)):
        fields.append((f"a{index}", msgspec.UnsetType, default))
        rename[f"a{index}"] = column
    # gc=False: these objects hold decoded JSON values only and live for one record, so they can be in no
    # reference cycle; untracked, they cost no collector work (each record made three tracked objects).
    data_type = msgspec.defstruct("Data", fields, rename=rename, forbid_unknown_fields=True, gc=False)
    record_type = msgspec.defstruct(
        "Record",
        [
            ("stream", str),
            ("data", data_type),
            ("emitted_at", _INT64 | None, None),  # a float or a bool: the general path
            ("namespace", str | None, None),
            ("meta", None, None),
        ],
        forbid_unknown_fields=True,
        gc=False,
    )
    message_type = msgspec.defstruct(
        "RecordMessage",
        [("record", record_type)],
        tag_field="type",
        tag="RECORD",
        forbid_unknown_fields=True,
        gc=False,
    )
    return msgspec.json.Decoder(message_type)


def compile_typed(shaper: RowShaper, runtime: Any) -> TypedRecords | None:
    """The typed decoder and shape function of `shaper`'s stream, or None outside the domain."""
    from destination_starrocks.row_shaper import WHOLE_RECORD, _note

    plans = list(shaper.plans)
    if shaper.primary_key or shaper.surrogate_key or shaper.cursor_rank or not plans:
        return None
    if any(len(p.path) != 1 or p.path == WHOLE_RECORD or p.column != p.path[0] or p.key for p in plans):
        return None
    if {p.column for p in plans} & set(AIRBYTE_COLUMNS) or len({p.column for p in plans}) != len(plans):
        return None
    types = [_column_type(p) for p in plans]
    if any(t is None for t in types):
        return None
    # Streams of one schema and generation (a source's partitions, the many-streams case) share one decoder:
    # building one costs about a millisecond per JSON column (the nested JSON value type).
    decoder = _decoder(tuple((p.column, _layout(p)) for p in plans), shaper.generation_id, runtime.empty_meta)
    namespace: dict[str, Any] = {
        "Change": Change, "note": _note, "RT": runtime, "EXTRACTED": runtime.extracted,
        "encode_into": msgspec.json.Encoder().encode_into, "JSON_MAX_BYTES": JSON_MAX_BYTES,
        # One buffer for every row: msgspec writes into it without allocating a bytes object per row and
        # growing it as it goes (0.79 against 1.0 us per bulk row with the copy into the body, measured).
        "OUT": bytearray(),
    }  # fmt: skip
    coerced_any = any(coerced for _, coerced in types)
    lines = ["def shape(d, emitted_at_ms):"] + (["    changes = None"] if coerced_any else [])
    for index, (plan, (_, coerced)) in enumerate(zip(plans, types, strict=True)):
        if not coerced:
            continue
        namespace[f"C{index}"] = coercer(plan.sr_type, plan.field_kind)[1]
        namespace[f"R{index}"] = plan.reason
        lines += [
            f"    v = d.f{index}",
            "    if v is not None:",
            "        try:",
            f"            d.f{index} = C{index}(v)",
            "        except Change as e:",
            f"            d.f{index} = e.value",
            f"            changes = note(changes, {plan.name!r}, e, R{index})",
        ]
    lines.append("    d.a1 = EXTRACTED.get(emitted_at_ms) or RT.extracted_at(emitted_at_ms)")
    if coerced_any:  # only a coercion records a change
        lines += ["    if changes is not None:", "        d.a2 = RT.meta_with(changes, None)"]
    lines.append("    encode_into(d, OUT)")
    # Only a JSON value can take a row past StarRocks' 16 MB JSON limit (the general path's test, row_shaper.py).
    if any(value_type is _JSON_VALUE for value_type, _ in types):
        lines += ["    if len(OUT) > JSON_MAX_BYTES:", "        return None"]
    lines.append("    return OUT")
    code = "\n".join(lines)
    exec(compile(code, f"<typed shape {shaper.stream!r}>", "exec"), namespace)  # noqa: S102 - our own code
    return TypedRecords(decoder.decode, namespace["shape"])
