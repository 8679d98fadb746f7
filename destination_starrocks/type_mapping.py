"""JSON schema -> StarRocks column types, and per-type value coercion with `_airbyte_meta` changes.

Contract:
- `column_type(schema) -> str`: the StarRocks type a field with this JSON schema gets. Primary-key fields get
  the same type; whether they can be the table's PRIMARY KEY as they are is key_plan.py's decision.
- `parse_type(text) -> SrType`: what an existing column's type (from `DESC`) means to the coercers.
- `coercer(sr_type) -> (fast types, coerce)`: `coerce(value)` returns the value to load into that column or
  raises `Change` (value nulled or truncated, with an Airbyte reason); values of a fast type need no work.
- `can_widen(old, new)`: whether `ALTER TABLE ... MODIFY COLUMN` may change `old` into `new`.
- `TYPE_TABLE` / `type_table_markdown()`: the mapping as data; docs/starrocks.md shows it (a test compares).

Why coerce on the connector side: in non-strict mode StarRocks turns a value it cannot convert into NULL
without telling anyone, and it filters a row whose VARCHAR is longer than the column (which fails the load
with max_filter_ratio 0). Doing it here lets every nulled or truncated value be recorded in the row's
`_airbyte_meta.changes`, and no row is ever dropped. Coercion runs per value on the hot path, so each coercer
is only called when the value's Python type is not already what the column wants (see row_shaper.py).

Reasons follow Airbyte's `AirbyteRecordMessageMetaChange.reason` enum: DESTINATION_SERIALIZATION_ERROR for a
value that is not of the field's type, DESTINATION_FIELD_SIZE_LIMITATION for one that is but does not fit the
column (out of range, too long), DESTINATION_TYPECAST_ERROR for a value whose column kept an older type
after a schema change StarRocks cannot widen.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import ROUND_HALF_EVEN, Context, Decimal, InvalidOperation
from typing import Any

import orjson

# --- StarRocks limits (https://docs.starrocks.io/docs/sql-reference/System_limit/, data-types pages) ---
# STRING is VARCHAR(65533) (docs .../string-type/STRING: "The maximum length is 65533 bytes"). We write
# VARCHAR(65533) explicitly: the same storage, and DESC shows the limit values are truncated to.
STRING_BYTES = 65533
VARCHAR_MAX_BYTES = 1048576  # VARCHAR(M), M <= 1048576 from 2.1 (still marked "Preview")
JSON_MAX_BYTES = 16 * 1024 * 1024  # "The maximum supported length for JSON-type data is currently 16 MB."
BIGINT_MIN, BIGINT_MAX = -(2**63), 2**63 - 1
LARGEINT_MIN, LARGEINT_MAX = -(2**127), 2**127 - 1
DECIMAL_PRECISION, DECIMAL_SCALE = 38, 9  # DECIMAL(P<=38, S); 29 integer and 9 fractional digits
INT_RANGES = {
    "tinyint": (-(2**7), 2**7 - 1),
    "smallint": (-(2**15), 2**15 - 1),
    "int": (-(2**31), 2**31 - 1),
    "integer": (-(2**31), 2**31 - 1),
    "bigint": (BIGINT_MIN, BIGINT_MAX),
}

# Column kinds the coercers know.
STRING, BIGINT, LARGEINT, DOUBLE, DECIMAL, BOOLEAN, DATE, DATETIME, TIME, JSON = (
    "STRING", "BIGINT", "LARGEINT", "DOUBLE", "DECIMAL", "BOOLEAN", "DATE", "DATETIME", "TIME", "JSON",
)  # fmt: skip
# Cursor kinds whose coerced values order the way Airbyte cursors do (the buffer keeps the largest per key).
ORDERED_KINDS = frozenset({BIGINT, LARGEINT, DOUBLE, DECIMAL, DATE, DATETIME, BOOLEAN, STRING, TIME})
# Column kinds Stream Load's `merge_condition` may name: fe `Load.checkMergeCondition` refuses CHAR, VARCHAR,
# JSON, BINARY, VARBINARY, BITMAP, HLL, PERCENTILE ("Merge condition column has invalid type maybe
# bitmap/hll/percentile/json/varchar!"), so string cursors are ranked instead (cursor_rank.py).
MERGE_CONDITION_KINDS = frozenset({BIGINT, LARGEINT, DOUBLE, DECIMAL, DATE, DATETIME, BOOLEAN})

NULLED, TRUNCATED = "NULLED", "TRUNCATED"
SERIALIZATION_ERROR = "DESTINATION_SERIALIZATION_ERROR"
FIELD_SIZE_LIMITATION = "DESTINATION_FIELD_SIZE_LIMITATION"
TYPECAST_ERROR = "DESTINATION_TYPECAST_ERROR"


class Change(Exception):  # noqa: N818 - a signal, not an error: the value changed, the row goes on
    """A coercer could not load the value as given: load `value` instead and record the change."""

    def __init__(self, value: Any, change: str, reason: str) -> None:
        super().__init__(change, reason)
        self.value = value
        self.change = change
        self.reason = reason


@dataclass(frozen=True)
class SrType:
    """A StarRocks column type as the coercers see it."""

    kind: str
    text: str  # DDL spelling, e.g. "VARCHAR(65533)"
    length: int = STRING_BYTES  # STRING/TIME: bytes
    precision: int = DECIMAL_PRECISION
    scale: int = DECIMAL_SCALE
    low: int = BIGINT_MIN  # integer kinds: range
    high: int = BIGINT_MAX


@dataclass(frozen=True)
class ColumnDef:
    """One column of a connector table: StarRocks name and type, and where its value comes from."""

    name: str
    type: str
    nullable: bool = True
    source: tuple[str, ...] = ()  # path of the value in the record; () for the _airbyte_* columns
    comment: str = ""  # COMMENT in the DDL (the connector's derived columns say what they hold)

    @property
    def sr_type(self) -> SrType:
        return parse_type(self.type)


# --- JSON schema -> StarRocks type ---------------------------------------------------------------------

_WELL_KNOWN = {  # WellKnownTypes.json#/definitions/<name>
    "String": STRING, "BinaryData": STRING, "Boolean": BOOLEAN, "Date": DATE,
    "TimestampWithTimezone": DATETIME, "TimestampWithoutTimezone": DATETIME,
    "TimeWithTimezone": TIME, "TimeWithoutTimezone": TIME, "Number": DOUBLE, "Integer": BIGINT,
}  # fmt: skip
_AIRBYTE_TYPES = {
    "timestamp_with_timezone": DATETIME, "timestamp_without_timezone": DATETIME,
    "time_with_timezone": TIME, "time_without_timezone": TIME,
    "integer": BIGINT, "big_integer": LARGEINT, "big_number": DECIMAL,
}  # fmt: skip
_FORMATS = {"date": DATE, "date-time": DATETIME, "time": TIME}
_KIND_TYPE = {
    STRING: f"VARCHAR({STRING_BYTES})", BIGINT: "BIGINT", LARGEINT: "LARGEINT", DOUBLE: "DOUBLE",
    DECIMAL: f"DECIMAL({DECIMAL_PRECISION},{DECIMAL_SCALE})", BOOLEAN: "BOOLEAN", DATE: "DATE",
    DATETIME: "DATETIME", TIME: f"VARCHAR({STRING_BYTES})", JSON: "JSON",
}  # fmt: skip


def schema_kind(schema: Any) -> str:
    """The column kind for a field's JSON schema (unions, objects, arrays and unknowns are JSON)."""
    if not isinstance(schema, dict):
        return JSON
    ref = schema.get("$ref")
    if isinstance(ref, str) and "WellKnownTypes.json#/definitions/" in ref:
        return _WELL_KNOWN.get(ref.rsplit("/", 1)[-1], JSON)
    for union in ("oneOf", "anyOf"):
        options = schema.get(union)
        if isinstance(options, list):
            kinds = {schema_kind(o) for o in options if not _is_null_schema(o)}
            return kinds.pop() if len(kinds) == 1 else JSON
    types = schema.get("type")
    if isinstance(types, list):
        types = [t for t in types if t != "null"]
        if len(types) != 1:
            return JSON
        types = types[0]
    airbyte_type = schema.get("airbyte_type")
    if types == "string":
        if airbyte_type in _AIRBYTE_TYPES:
            return _AIRBYTE_TYPES[airbyte_type]
        return _FORMATS.get(schema.get("format"), STRING)
    if types == "integer":
        return LARGEINT if airbyte_type == "big_integer" else BIGINT
    if types == "number":
        return {"integer": BIGINT, "big_integer": LARGEINT, "big_number": DECIMAL}.get(airbyte_type, DOUBLE)
    if types == "boolean":
        return BOOLEAN
    return JSON


def _is_null_schema(schema: Any) -> bool:
    return isinstance(schema, dict) and schema.get("type") == "null"


def column_type(schema: Any, key: bool = False) -> str:  # noqa: ARG001 - `key` kept for existing callers
    """StarRocks DDL type for a field with this JSON schema (a primary-key field's too: see key_plan.py)."""
    return _KIND_TYPE[schema_kind(schema)]


def kind_type(kind: str) -> str:
    return _KIND_TYPE[kind]


_TYPE_RE = re.compile(r"^\s*([a-z_0-9]+)\s*(?:\(\s*(\d+)\s*(?:,\s*(\d+)\s*)?\))?", re.IGNORECASE)


def parse_type(text: str) -> SrType:
    """An existing column's type (`DESC` spelling, any case) -> SrType; unknown types pass values through."""
    match = _TYPE_RE.match(text)
    name = match.group(1).lower() if match else ""
    first = int(match.group(2)) if match and match.group(2) else None
    second = int(match.group(3)) if match and match.group(3) else None
    if name in ("varchar", "char"):
        return SrType(STRING, f"VARCHAR({first or 1})", length=first or 1)
    if name == "string":
        return SrType(STRING, f"VARCHAR({STRING_BYTES})")
    if name in INT_RANGES:
        low, high = INT_RANGES[name]
        return SrType(BIGINT, name.upper() if name != "integer" else "INT", low=low, high=high)
    if name == "largeint":
        return SrType(LARGEINT, "LARGEINT", low=LARGEINT_MIN, high=LARGEINT_MAX)
    if name in ("double", "float"):
        return SrType(DOUBLE, name.upper())
    if name.startswith("decimal") or name == "numeric":
        precision, scale = first or 10, second or 0  # StarRocks' DECIMAL default is DECIMAL(10,0)
        return SrType(DECIMAL, f"DECIMAL({precision},{scale})", precision=precision, scale=scale)
    if name in ("boolean", "bool"):
        return SrType(BOOLEAN, "BOOLEAN")
    if name == "date":
        return SrType(DATE, "DATE")
    if name in ("datetime", "timestamp"):
        return SrType(DATETIME, "DATETIME")
    return SrType(JSON, text.strip().upper() or "JSON")


def can_widen(old: SrType, new: SrType) -> bool:
    """Whether StarRocks' MODIFY COLUMN supports old -> new without losing values.

    From ALTER TABLE, "Modify columns": TINYINT/SMALLINT/INT/BIGINT -> a larger one or DOUBLE; numbers ->
    VARCHAR; VARCHAR to a longer VARCHAR; DATE -> DATETIME; FLOAT -> DOUBLE. Everything else keeps the old
    column, and values are coerced to it.
    """
    if old.text == new.text:
        return False
    if old.kind == BIGINT:
        if new.kind == BIGINT:
            return new.low <= old.low and new.high >= old.high
        return new.kind in (DOUBLE, STRING)
    if old.kind in (LARGEINT, DOUBLE, DECIMAL) and new.kind == STRING:
        return True
    if old.kind == STRING and new.kind == STRING:
        return new.length > old.length
    if old.kind == DOUBLE and new.kind == DOUBLE:
        return old.text == "FLOAT"
    return old.kind == DATE and new.kind == DATETIME


# --- coercers ---------------------------------------------------------------------------------------------

Coerce = Callable[[Any], Any]
_INTEGER_TEXT = re.compile(r"\s*[+-]?[0-9]+\s*\Z")
_DECIMAL_CONTEXT = Context(prec=80)


def _integer(low: int, high: int, as_text_beyond_bigint: bool) -> Coerce:
    def coerce(value: Any) -> Any:
        kind = type(value)
        if kind is int:
            number = value
        elif kind is float and value.is_integer():
            number = int(value)
        elif kind is str and _INTEGER_TEXT.match(value):
            number = int(value)
        elif kind is str:
            try:
                as_float = float(value)
            except ValueError:
                raise Change(None, NULLED, SERIALIZATION_ERROR) from None
            if not as_float.is_integer():
                raise Change(None, NULLED, SERIALIZATION_ERROR)
            number = int(as_float)
        else:  # bool, non-integral float, object, array
            raise Change(None, NULLED, SERIALIZATION_ERROR)
        if not low <= number <= high:
            raise Change(None, NULLED, FIELD_SIZE_LIMITATION)
        # orjson cannot write integers beyond 64 bits; StarRocks parses a JSON string into LARGEINT.
        if as_text_beyond_bigint and not BIGINT_MIN <= number <= BIGINT_MAX:
            return str(number)
        return number

    return coerce


def _double(value: Any) -> Any:
    kind = type(value)
    if kind is int or kind is float:
        number = value
    elif kind is str:
        try:
            number = float(value)
        except ValueError:
            raise Change(None, NULLED, SERIALIZATION_ERROR) from None
    else:
        raise Change(None, NULLED, SERIALIZATION_ERROR)
    try:
        number = float(number)
    except OverflowError:
        raise Change(None, NULLED, FIELD_SIZE_LIMITATION) from None
    if number != number or number in (float("inf"), float("-inf")):
        raise Change(None, NULLED, FIELD_SIZE_LIMITATION if kind is not str else SERIALIZATION_ERROR)
    return value if kind is not str else number


def _decimal(precision: int, scale: int) -> Coerce:
    quantum = Decimal(1).scaleb(-scale)
    integer_digits = precision - scale

    def coerce(value: Any) -> str:
        kind = type(value)
        if kind not in (int, float, str):
            raise Change(None, NULLED, SERIALIZATION_ERROR)
        try:
            number = Decimal(value if kind is not float else repr(value))
        except InvalidOperation:
            raise Change(None, NULLED, SERIALIZATION_ERROR) from None
        if not number.is_finite():
            raise Change(None, NULLED, SERIALIZATION_ERROR)
        if number.adjusted() >= integer_digits:
            raise Change(None, NULLED, FIELD_SIZE_LIMITATION)
        rounded = number.quantize(quantum, rounding=ROUND_HALF_EVEN, context=_DECIMAL_CONTEXT)
        if rounded.adjusted() >= integer_digits:  # 99.9999999995 rounds up past the limit
            raise Change(None, NULLED, FIELD_SIZE_LIMITATION)
        return format(rounded, "f")  # a JSON string: orjson has no Decimal, StarRocks parses the text

    return coerce


def _boolean(value: Any) -> bool:
    if type(value) is bool:
        return value
    if type(value) is str and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise Change(None, NULLED, SERIALIZATION_ERROR)


def _date(value: Any) -> str:
    if type(value) is not str:
        raise Change(None, NULLED, SERIALIZATION_ERROR)
    try:
        if len(value) == 10 and value[4] == "-" and value[7] == "-":
            date.fromisoformat(value)  # validates; "YYYY-MM-DD" is already what StarRocks wants
            return value
        # Other ISO 8601 shapes Python reads ("2024-W01-1", "20240101", a date-time) are re-written as
        # YYYY-MM-DD: StarRocks' DATE parser is not known to read week or basic dates.
        return datetime.fromisoformat(value).date().isoformat()
    except ValueError:
        raise Change(None, NULLED, SERIALIZATION_ERROR) from None


_fromisoformat = datetime.fromisoformat


def _datetime(value: Any) -> str:
    """ISO 8601 with or without zone -> "YYYY-MM-DD HH:MM:SS[.ffffff]" in UTC (StarRocks DATETIME has no zone)."""
    try:
        parsed = _fromisoformat(value)  # TypeError for a non-string
    except (ValueError, TypeError):
        raise Change(None, NULLED, SERIALIZATION_ERROR) from None
    # Fastest path, what most sources write: "YYYY-MM-DDTHH:MM:SS.ffffffZ" (the parse validated it; the
    # stride picks [7] [10] [13] [16] [19], which only the extended calendar format has as "-T::."). Every
    # other place of the first 26 is a digit the parse read, so the one "T" is [10]: one replace, 72 against
    # 124 ns for two slices joined around " " (timeit, 100,000 such values).
    if len(value) == 27 and value[26] == "Z" and value[7:20:3] == "-T::.":
        return value[:26].replace("T", " ")
    # Fast path, most other values: already UTC (or naive) in the extended format -> re-cut the text. The parse
    # above validated it; [7] and [13] tell the extended calendar format from week/ordinal/basic ones, and [10]
    # is the separator (Python reads any character there: "2024-01-01x12:34:56" goes the slow way).
    if parsed.tzinfo is None:
        body = value
    elif value[-1] == "Z":
        body = value[:-1]
    elif value[-6:] == "+00:00":
        body = value[:-6]
    else:
        body = ""
    if 19 <= len(body) < 27 and body[7] == "-" and body[13] == ":" and body[10] in "T ":
        return body.replace("T", " ")
    if parsed.tzinfo is not None:
        try:
            parsed = parsed.astimezone(UTC).replace(tzinfo=None)
        except OverflowError:
            raise Change(None, NULLED, FIELD_SIZE_LIMITATION) from None
    return parsed.isoformat(" ")


def _time(value: Any) -> str:
    if type(value) is not str:
        raise Change(None, NULLED, SERIALIZATION_ERROR)
    try:
        time.fromisoformat(value)
    except ValueError:
        raise Change(None, NULLED, SERIALIZATION_ERROR) from None
    return value


def _string(limit: int) -> Coerce:
    def coerce(value: Any) -> str:
        if type(value) is not str:
            # Like Airbyte's typing: a non-string value in a string column is kept as its JSON text.
            try:
                value = orjson.dumps(value).decode()
            except orjson.JSONEncodeError:
                value = str(value)  # an integer beyond 64 bits
        if len(value) * 4 <= limit:
            return value
        encoded = value.encode("utf-8", "surrogatepass")
        if len(encoded) <= limit:
            return value
        # Cut at a UTF-8 character boundary: "ignore" drops the partial character at the end.
        raise Change(encoded[:limit].decode("utf-8", "ignore"), TRUNCATED, FIELD_SIZE_LIMITATION)

    return coerce


def _json(value: Any) -> Any:
    return value


def coercer(sr_type: SrType, field_kind: str | None = None) -> tuple[tuple[type, ...], Coerce]:
    """(Python types that need no work, coerce) for values of a field of `field_kind` in a `sr_type` column.

    `field_kind` matters for VARCHAR columns only: one holding a `time` field also checks values are times.
    An empty tuple of fast types means every non-null value goes through `coerce` (strings need a length
    check, dates and date-times a parse).
    """
    kind = sr_type.kind
    if kind == STRING:
        limit = _string(sr_type.length)
        if field_kind == TIME:
            return (), lambda value: limit(_time(value))
        return (), limit
    if kind in (BIGINT, LARGEINT):
        return (int,), _integer(sr_type.low, sr_type.high, kind == LARGEINT)
    if kind == DOUBLE:
        return (float, int), _double
    if kind == DECIMAL:
        return (), _decimal(sr_type.precision, sr_type.scale)
    if kind == BOOLEAN:
        return (bool,), _boolean
    if kind == DATE:
        return (), _date
    if kind == DATETIME:
        return (), _datetime
    return (object,), _json  # JSON and types this connector does not create: passed through


# --- the mapping as documentation ---------------------------------------------------------------------------

TYPE_TABLE: list[tuple[str, str, str]] = [
    ("`string`", _KIND_TYPE[STRING], "longer than 65533 bytes: cut at a UTF-8 boundary, `TRUNCATED`; "
     "a non-string value is kept as its JSON text"),
    ("`string`, `format: date`", _KIND_TYPE[DATE],
     "sent as `YYYY-MM-DD` (ISO 8601 week and basic dates, and date-times, are rewritten to it); "
     "not an ISO 8601 date: `NULLED`"),
    ("`string`, `format: date-time` (with or without zone)", _KIND_TYPE[DATETIME],
     "converted to UTC, `YYYY-MM-DD HH:MM:SS[.ffffff]` whatever separator the source used between date and "
     "time; unparseable: `NULLED`"),
    ("`string`, `format: time` (with or without zone)", _KIND_TYPE[TIME], "kept as given; not a time: `NULLED`"),
    ("`integer`", _KIND_TYPE[BIGINT], "beyond BIGINT, or not an integer: `NULLED`"),
    ("`integer` or `string`, `airbyte_type: big_integer`", _KIND_TYPE[LARGEINT], "beyond 128 bits: `NULLED`"),
    ("`number`", _KIND_TYPE[DOUBLE], "not a number: `NULLED`"),
    ("`number` or `string`, `airbyte_type: big_number`", _KIND_TYPE[DECIMAL],
     "rounded half-even to 9 decimals; more than 29 integer digits: `NULLED`"),
    ("`boolean`", _KIND_TYPE[BOOLEAN], "`\"true\"`/`\"false\"` accepted; anything else: `NULLED`"),
    ("`object`, `array`, `oneOf`/`anyOf`/type unions, empty or unknown schema", _KIND_TYPE[JSON], "kept as is"),
    ("primary-key field (`append_dedup`) of type `integer`, `big_integer`, `boolean`, `date` or `date-time`",
     "BIGINT / LARGEINT / BOOLEAN / DATE / DATETIME NOT NULL", "the table's PRIMARY KEY; a null key fails the sync"),
    ("primary-key field of any other type (`string`, `time`, `number`, `big_number`, `object`, `array`, union)",
     "_airbyte_pk LARGEINT NOT NULL", "the PRIMARY KEY is a 128-bit hash of the key values; the key fields keep "
     "their usual columns (NOT NULL), numbers equal as numbers (`2013`, `2013.0`) are one key, and no key is too "
     "long for StarRocks; a null key fails the sync"),
]  # fmt: skip


def type_table_markdown() -> str:
    """The type table of docs/starrocks.md, generated from TYPE_TABLE."""
    lines = ["| JSON schema | StarRocks column | Values that do not fit |", "|---|---|---|"]
    lines += [f"| {schema} | `{sr_type}` | {rule} |" for schema, sr_type, rule in TYPE_TABLE]
    return "\n".join(lines)
