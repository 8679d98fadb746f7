"""Primary keys of deduplicated streams: which key a table gets, and the canonical form of key values.

StarRocks' rules. Primary Key columns must be BOOLEAN, TINYINT..BIGINT, LARGEINT, VARCHAR, DATE or DATETIME
(fe `KeysDesc.checkColumnDefs`: "primary key column[%s] type not supported"), so DOUBLE, DECIMAL and JSON are
refused at CREATE TABLE. And a key's encoded form may not exceed `primary_key_limit_size` (BE config, 128
bytes by default; be `PrimaryKeyEncoder::encode_exceed_limit`: a single VARCHAR key counts its bytes, a
composite key counts the fixed widths plus each VARCHAR's bytes, plus 2 and one per NUL byte for a VARCHAR that
is not the last column), or the whole load fails with "primary key size exceed the limit.", every retry again.

The decision, made once at CREATE TABLE from the stream's schema (a table's key cannot change afterwards):
- **Natural key**: a key made only of `integer`, `big_integer`, `boolean`, `date` and `date-time` fields whose
  fixed widths fit in 128 bytes is the table's PRIMARY KEY as it is. Every value has the same size, so no
  future record can exceed the limit.
- **Surrogate key**: any other key gets `_airbyte_pk LARGEINT` as its PRIMARY KEY: the first 128 bits of
  BLAKE2b over the canonical key values. A string's length is bounded by no schema, so a string key could
  outgrow 128 bytes in any later record; a number cannot be a key column at all. The key fields stay ordinary
  NOT NULL columns of their usual types (DOUBLE, VARCHAR, JSON...), so they can be read, filtered and sorted
  as the source sent them. Two different keys share a surrogate with probability about n² / 2¹²⁹ for n keys
  (below 10⁻¹⁵ for a trillion keys). The column's COMMENT names the key columns it hashes, so a later sync
  can tell whether the stream's primary key changed.
- **Canonical values** make equal keys equal: numbers by their decimal value (`2013`, `2013.0`, `"2013"` and
  `2.013e3` are one key; a `number` key by the DOUBLE its column holds, so 2**70 and 2**70 + 1, one DOUBLE,
  are one key), date-times in UTC with microseconds, objects and arrays as JSON with sorted keys and numbers by
  value (StarRocks prints the JSON double 1.0 as `1`: be/src/util/json.cpp `to_string` is velocypack's
  `toJson`; an integer beyond 64 bits by the double simdjson reads it as).
- **The same canonical values from the table** (`stored_canonical`): a rebuild into a surrogate-keyed table
  reads the rows back over the MySQL protocol (pymysql's types: float, Decimal, datetime, date, JSON text...)
  and must compute each row's `_airbyte_pk` exactly as the shaper computes it from a record with those values,
  or later records of a key would land beside its copied row instead of replacing it.

A table created before surrogate keys existed keeps its natural key (often a VARCHAR); `encoded_key_bytes`
lets the shaper refuse a record whose key StarRocks would refuse, with the fix (a refresh rebuilds the table
with a surrogate key), instead of a load retried until the sync fails.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

import orjson

from destination_starrocks.type_mapping import (
    BIGINT,
    BOOLEAN,
    DATE,
    DATETIME,
    DECIMAL,
    DOUBLE,
    JSON,
    LARGEINT,
    STRING,
    SrType,
)

PRIMARY_KEY_LIMIT_BYTES = 128  # be config `primary_key_limit_size` default
SURROGATE_TYPE = "LARGEINT"
SURROGATE_BYTES = 16
# get_field_length_by_type of the fixed-width key types (be storage/tablet_schema).
_FIXED_WIDTHS = {
    "TINYINT": 1, "SMALLINT": 2, "INT": 4, "BIGINT": 8, "LARGEINT": 16, "BOOLEAN": 1, "DATE": 4, "DATETIME": 8,
}  # fmt: skip
# Kinds a new table keys on as they are (fixed width), and their widths.
NATURAL_KEY_WIDTHS = {BIGINT: 8, LARGEINT: 16, BOOLEAN: 1, DATE: 4, DATETIME: 8}
_COMMENT_PREFIX = "Airbyte: 128-bit hash of the primary key"
_COMMENT_COLUMNS = re.compile(r"\(([^()]*)\)\s*\Z")


def needs_surrogate(kinds: Sequence[str]) -> bool:
    """Whether a new table keyed on fields of these kinds needs a surrogate key (see the module docstring)."""
    if not all(kind in NATURAL_KEY_WIDTHS for kind in kinds):
        return True
    return sum(NATURAL_KEY_WIDTHS[kind] for kind in kinds) > PRIMARY_KEY_LIMIT_BYTES


def surrogate_comment(key_columns: Sequence[str]) -> str:
    """The COMMENT of a surrogate key column: says what it is, and which columns it hashes."""
    return f"{_COMMENT_PREFIX} ({', '.join(key_columns)})"


def key_columns_from_comment(comment: str | None) -> list[str] | None:
    """The key columns a surrogate key column hashes, read back from its COMMENT; None if not ours."""
    if not comment or not comment.startswith(_COMMENT_PREFIX):
        return None
    match = _COMMENT_COLUMNS.search(comment)
    if match is None:
        return None
    return [name.strip() for name in match.group(1).split(",") if name.strip()]


def surrogate_key(canonical_values: Sequence[str]) -> int:
    """The signed 128-bit LARGEINT for one key (canonical values, in key order)."""
    digest = hashlib.blake2b(orjson.dumps(list(canonical_values)), digest_size=SURROGATE_BYTES).digest()
    return int.from_bytes(digest, "big", signed=True)


def canonical(kind: str) -> Callable[[Any], str]:
    """The canonical text of a key value already coerced to a column of `kind`."""
    if kind == DOUBLE:
        return _double_text
    if kind == DECIMAL:
        return number_text
    if kind in (BIGINT, LARGEINT):
        return _integer_text
    if kind == BOOLEAN:
        return _boolean_text
    if kind == DATETIME:
        return _datetime_text
    if kind == JSON:
        return _json_text
    return str  # STRING, TIME (as text), DATE (already YYYY-MM-DD)


def number_text(value: Any) -> str:
    """A number's decimal value as text: 2013, 2013.0, "2013.000000000" and 2.013e3 are all "2013"."""
    if type(value) is int:
        return str(value)
    if type(value) is float:
        number = Decimal(repr(value))  # the shortest text that reads back as this float: 1e30 is 10**30
    else:
        number = Decimal(str(value))
    if number == number.to_integral_value():
        return str(int(number))
    return format(number.normalize(), "f")


def _double_text(value: Any) -> str:
    """A DOUBLE key by the double StarRocks stores: the coercer passes an int through (2**70 stays an int)."""
    return number_text(float(value))


def _integer_text(value: Any) -> str:
    return str(int(value))  # a LARGEINT coercer sends values beyond BIGINT as text


def _boolean_text(value: Any) -> str:
    return "true" if value else "false"


def _datetime_text(value: Any) -> str:
    """`YYYY-MM-DD HH:MM:SS[.f]` (the DATETIME coercer's output) with exactly six fractional digits."""
    text = str(value)
    if len(text) == 19:
        return text + ".000000"
    return text[:20] + text[20:26].ljust(6, "0")


def _json_text(value: Any) -> str:
    value = _json_numbers(value)
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
    except orjson.JSONEncodeError:  # an integer beyond 64 bits
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


_JSON_INT_LOW, _JSON_INT_HIGH = -(2**63), 2**64 - 1  # what simdjson reads as an integer (int64 or uint64)


def _json_numbers(value: Any) -> Any:
    """Numbers inside a JSON key by value: an integral double as the integer (StarRocks prints 1.0 as 1), an
    integer simdjson cannot hold as one by the double it reads."""
    kind = type(value)
    if kind is float:
        return int(value) if value.is_integer() else value
    if kind is int:
        return value if _JSON_INT_LOW <= value <= _JSON_INT_HIGH else _json_numbers(float(value))
    if kind is dict:
        return {key: _json_numbers(item) for key, item in value.items()}
    if kind is list:
        return [_json_numbers(item) for item in value]
    return value


def stored_canonical(kind: str) -> Callable[[Any], str]:
    """The canonical text of a value read back from a key column of `kind` (pymysql's Python value, or the text
    the server sent), equal to `canonical(kind)` of the coerced record value that loaded it."""
    if kind == JSON:
        return _stored_json_text
    if kind == DATETIME:
        return _stored_datetime_text
    if kind == DATE:
        return lambda value: value.isoformat() if isinstance(value, dt.date) else str(value)
    if kind == BOOLEAN:
        return lambda value: _boolean_text(str(value).lower() in ("1", "true"))
    if kind == STRING:
        return lambda value: value.decode("utf-8") if isinstance(value, bytes) else str(value)
    return canonical(kind)  # numbers: float, Decimal, int or their text read the same way


def _stored_datetime_text(value: Any) -> str:
    if isinstance(value, dt.datetime):
        return value.isoformat(" ", "microseconds")
    return _datetime_text(str(value))


def _stored_json_text(value: Any) -> str:
    text = value.decode("utf-8") if isinstance(value, bytes) else str(value)
    try:
        parsed = orjson.loads(text)
    except orjson.JSONDecodeError:  # an integer beyond 64 bits
        parsed = json.loads(text)
    return _json_text(parsed)


def encoded_key_bytes(values: Sequence[Any], types: Sequence[SrType]) -> int:
    """StarRocks' encoded size of one natural key (PrimaryKeyEncoder::encode_exceed_limit's count).

    Only VARCHAR parts vary; a key of one fixed-width column is never checked by StarRocks, so it counts 0.
    """
    if len(types) == 1:
        if types[0].kind != STRING:
            return 0
        return len(str(values[0]).encode("utf-8", "surrogatepass"))
    size = 0
    last = len(types) - 1
    for index, (value, sr_type) in enumerate(zip(values, types, strict=True)):
        if sr_type.kind != STRING:
            size += _FIXED_WIDTHS.get(sr_type.text, 16)
            continue
        encoded = str(value).encode("utf-8", "surrogatepass")
        size += len(encoded) if index == last else len(encoded) + encoded.count(0) + 2
    return size
