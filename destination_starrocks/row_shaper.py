"""RowShaper: one Airbyte record -> one JSON object (orjson bytes) for a Stream Load into a typed table.

Contract (what writer.py and tables.py call):
- `shape(data, emitted_at_ms, meta_changes=None) -> bytes`: the row with `_airbyte_raw_id`,
  `_airbyte_extracted_at`, `_airbyte_meta` (`changes` + `sync_id`), `_airbyte_generation_id`, every schema
  field coerced to its column, and `__op` (0 upsert, 1 delete when `_ab_cdc_deleted_at` is set) for Primary
  Key tables. May mutate `data`. Raises `RecordError` for a null (or unloadable) primary key.
  `meta_changes` are the source's own `record.meta.changes`, kept in `_airbyte_meta.changes`.
- `dedup_key(data)`: the primary key values (dedup streams), else None. Works before or after `shape()`.
  With a surrogate key (`surrogate_key` names its column, key_plan.py) it is `(the 128-bit key,)`, and
  `shape()` writes that key into the row. A natural key that StarRocks would refuse as too long (a table
  created before surrogate keys, `check_key_size`) raises `RecordError` naming the fix.
- `cursor_value(data)`: the cursor coerced to its column type (comparable within a stream), or None. With
  `cursor_rank` (a column name, cursor_rank.py) `shape()` also writes the cursor's rank into that column.
  `shape()` reuses the key and cursor that `dedup_key()` / `cursor_value()` just computed for the same dict.

Why generated code: `shape()` runs once per record and must cost about what decoding and encoding the record
costs. The per-stream plan (which fields, which columns, which Python types need no work) is compiled once
into a straight-line Python function, so per record there is no loop over plan tuples, only one dict lookup
and one type check per field; a coercer is called only when the value's type is not already what the column
wants. In the common case (column names equal field names) the record dict is reused and the `_airbyte_*`
keys are added to it, then serialised once.

`_airbyte_raw_id` is unique per record but not random per record: a per-process random 74-bit prefix plus a
48-bit counter, laid out as a version-4 UUID string (uuid4() per record would cost ~1.5 us).
"""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import orjson

from destination_starrocks.cursor_rank import string_rank
from destination_starrocks.errors import RecordError
from destination_starrocks.key_plan import (
    PRIMARY_KEY_LIMIT_BYTES,
    canonical,
    encoded_key_bytes,
    surrogate_key,
)
from destination_starrocks.type_mapping import (
    DATETIME,
    FIELD_SIZE_LIMITATION,
    JSON,
    JSON_MAX_BYTES,
    NULLED,
    STRING,
    TIME,
    Change,
    SrType,
    coercer,
)
from destination_starrocks.typed_records import TypedRecords, compile_typed

CDC_DELETED_AT = "_ab_cdc_deleted_at"
_EPOCH = datetime(1970, 1, 1)
_MAX_MS = (datetime.max - _EPOCH) // timedelta(milliseconds=1)  # 9999-12-31 23:59:59.999
_MILLIS = [f"{ms:03d}" for ms in range(1000)]
_MISSING = object()  # dig(): a path that is not in the record


_RAW_ID_TAILS = [f"{i:03x}" for i in range(4096)]


def raw_ids() -> Iterator[str]:
    """Unique `_airbyte_raw_id`s shaped like version-4 UUIDs: a random 74-bit prefix, then a 48-bit counter.

    One generator per RowShaper (its own random prefix), so no two streams or threads share a counter.
    The counter's last three hex digits come from a table: one string concatenation per record.
    """
    bits = os.urandom(10).hex()  # 80 random bits, 74 of them kept
    variant = "89ab"[int(bits[16], 16) & 3]
    prefix = f"{bits[0:8]}-{bits[8:12]}-4{bits[13:16]}-{variant}{bits[17:20]}-"
    for block in itertools.count():
        head = f"{prefix}{block:09x}"
        for tail in _RAW_ID_TAILS:
            yield head + tail


# The path of a column that holds the whole record (a stream whose schema declares no properties).
WHOLE_RECORD: tuple[str, ...] = ("\x00record",)


@dataclass(frozen=True)
class FieldPlan:
    """Where one column's value comes from and what it must become."""

    path: tuple[str, ...]  # (field,) for a top-level field; longer for a nested primary-key column
    column: str
    sr_type: SrType
    field_kind: str | None = None  # the kind the JSON schema asks for (TIME validates VARCHAR values)
    key: bool = False  # primary-key column: NOT NULL, a null value fails the record
    reason: str | None = None  # overrides the coercer's reason (the column kept an older type)

    @property
    def name(self) -> str:
        return ".".join(self.path)


@dataclass
class RowShaper:
    stream: tuple[str | None, str]
    plans: Sequence[FieldPlan]
    generation_id: int = 0
    sync_id: int | None = None
    primary_key: Sequence[tuple[str, ...]] = ()  # key paths; set only for dedup (Primary Key) tables
    cursor: tuple[str, ...] | None = None
    cursor_type: SrType | None = None
    surrogate_key: str | None = None  # column of the table's surrogate PRIMARY KEY (key_plan.py)
    cursor_rank: str | None = None  # column of the cursor's LARGEINT rank (cursor_rank.py)
    check_key_size: bool = False  # a natural key with VARCHAR parts: refuse keys over StarRocks' limit
    # `shape(data, emitted_at_ms, meta_changes=None) -> bytes` is the generated function itself, not a method
    # that calls it: one Python call less per record.
    shape: Callable[..., bytes] = field(init=False, repr=False)
    # The same rows from typed decoding (typed_records.py), for streams in its domain; else None.
    typed: TypedRecords | None = field(init=False, repr=False, default=None)

    def __post_init__(self) -> None:
        key_plans = {plan.path: plan for plan in self.plans if plan.key}
        self._key_plans = [key_plans[path] for path in self.primary_key if path in key_plans]
        # Per key part: its column's coercer, then the form that makes equal keys equal (key_plan.py).
        self._key_steps = [
            (
                plan,
                coercer(plan.sr_type, plan.field_kind)[1],
                canonical(plan.sr_type.kind) if self.surrogate_key or plan.sr_type.kind == DATETIME else None,
            )
            for plan in self._key_plans
        ]
        self._cursor_coerce = None
        if self.cursor and self.cursor_type is not None:
            self._cursor_coerce = coercer(self.cursor_type)[1]
        self._last_key: tuple[Any, Any] = (None, None)  # (data, surrogate) of the last dedup_key() call
        self._last_cursor: tuple[Any, Any] = (None, None)  # (data, cursor) of the last cursor_value() call
        self.shape, self.typed = _compile(self)  # last: the generated code reads the key steps above

    def dedup_key(self, data: dict) -> tuple | None:
        if not self.primary_key:
            return None
        values = []
        for plan, coerce, normal in self._key_steps:
            value = _dig(data, plan.path)
            if value is not None and value is not _MISSING:
                try:
                    value = coerce(value)
                except Change as change:
                    raise _key_error(self.stream, plan.name, change) from None
            if value is None or value is _MISSING:
                raise _key_error(self.stream, plan.name, None)
            values.append(value if normal is None else normal(value))
        if self.surrogate_key:
            key = surrogate_key(values)
            self._last_key = (data, key)
            return (key,)
        if self.check_key_size:
            size = encoded_key_bytes(values, [plan.sr_type for plan in self._key_plans])
            if size > PRIMARY_KEY_LIMIT_BYTES:
                raise _key_size_error(self.stream, [plan.name for plan in self._key_plans], size)
        return tuple(values)

    def cursor_value(self, data: dict) -> object | None:
        if self._cursor_coerce is None or self.cursor is None:
            return None
        value = _dig(data, self.cursor)
        if value is None or value is _MISSING:
            value = None
        else:
            try:
                value = self._cursor_coerce(value)
            except Change:
                value = None
        self._last_cursor = (data, value)
        return value

    def surrogate_of(self, data: dict) -> str:
        """The surrogate key of a record, as the JSON text StarRocks reads into LARGEINT (beyond 64 bits)."""
        last_data, key = self._last_key
        if last_data is not data:
            key = self.dedup_key(data)[0]  # type: ignore[index]
        return str(key)

    def rank_of(self, data: dict) -> str | None:
        """The cursor's rank (cursor_rank.py), as JSON text for LARGEINT; None for a null cursor."""
        last_data, value = self._last_cursor
        if last_data is not data:
            value = self.cursor_value(data)
        return None if value is None else str(string_rank(str(value)))


def _dig(data: Any, path: tuple[str, ...]) -> Any:
    for part in path:
        if not isinstance(data, dict):
            return _MISSING
        data = data.get(part, _MISSING)
        if data is _MISSING:
            return _MISSING
    return data


def _key_error(stream: tuple[str | None, str], field_name: str, change: Change | None) -> RecordError:
    namespace, name = stream
    where = f"{namespace}.{name}" if namespace else name
    if change is None or change.change == NULLED:
        problem = "is null" if change is None else f"cannot be loaded into its key column ({change.reason})"
    else:
        problem = f"is too long for its key column ({change.reason})"
    return RecordError(
        f"Stream '{where}': primary key field '{field_name}' {problem}. A deduplicated stream needs a "
        "non-null primary key in every record; fix the source or choose another primary key."
    )


def _key_size_error(stream: tuple[str | None, str], fields: list[str], size: int) -> RecordError:
    namespace, name = stream
    where = f"{namespace}.{name}" if namespace else name
    return RecordError(
        f"Stream '{where}': a record's primary key ({', '.join(fields)}) is {size} bytes in StarRocks' key "
        f"encoding, over its limit of {PRIMARY_KEY_LIMIT_BYTES} (BE config primary_key_limit_size). The table "
        "was created by an earlier version of this connector with the key itself as its PRIMARY KEY; run a "
        "refresh of this stream (it rebuilds the table with a fixed-size surrogate key, `_airbyte_pk`), or raise "
        "primary_key_limit_size on every BE."
    )


def _note(changes: list | None, field_name: str, change: Change, reason: str | None) -> list:
    entry = {"field": field_name, "change": change.change, "reason": reason or change.reason}
    if changes is None:
        return [entry]
    changes.append(entry)
    return changes


class _Runtime:
    """Per-stream state the generated function reads: the extracted_at cache and the meta constants."""

    def __init__(self, shaper: RowShaper, json_columns: list[tuple[str, str]]) -> None:
        self.extracted: dict[int, str] = {}  # emitted_at_ms -> text; holds the last value only
        self.second: int | None = None  # the second of the last integer emitted_at, and its text
        self.second_text = ""
        self.sync_id = shaper.sync_id
        self.empty_meta = orjson.dumps({"changes": [], "sync_id": shaper.sync_id})  # also the typed path's
        self.meta = orjson.Fragment(self.empty_meta)
        self.json_columns = json_columns

    def extracted_at(self, emitted_at_ms: int) -> str:
        """`emitted_at` (ms since the epoch) as DATETIME text, "YYYY-MM-DD HH:MM:SS.mmm".

        Called when emitted_at differs from the previous record's. Sources stamp records as they emit them,
        so the second rarely changes: an integer's text is the second's text (kept) and the milliseconds
        from a table. Anything else (a float, a bool, before 1970, past year 9999) goes through datetime,
        which gives the same text or raises as it always did.
        """
        if type(emitted_at_ms) is int and 0 <= emitted_at_ms <= _MAX_MS:
            second, millis = divmod(emitted_at_ms, 1000)
            if second != self.second:
                self.second_text = (_EPOCH + timedelta(seconds=second)).isoformat(" ") + "."
                self.second = second
            text = self.second_text + _MILLIS[millis]
        else:
            text = (_EPOCH + timedelta(milliseconds=emitted_at_ms)).isoformat(" ", "milliseconds")
        self.extracted.clear()
        self.extracted[emitted_at_ms] = text
        return text

    def meta_with(self, changes: list | None, meta_changes: list | None) -> dict:
        return {"changes": [*(meta_changes or ()), *(changes or ())], "sync_id": self.sync_id}

    def dump(self, row: dict, changes: list | None, meta_changes: list | None) -> bytes:
        try:
            out = orjson.dumps(row)
        except orjson.JSONEncodeError:  # an integer beyond 64 bits inside a JSON value: rare, stdlib copes
            out = self._stdlib_dumps(row, changes, meta_changes)
        if len(out) > JSON_MAX_BYTES and self.json_columns:
            out = self._shrink(row, changes, meta_changes)
        return out

    def _shrink(self, row: dict, changes: list | None, meta_changes: list | None) -> bytes:
        """Null JSON values over StarRocks' 16 MB JSON limit, recording each; then serialise again."""
        for column, field_name in self.json_columns:
            value = row.get(column)
            if value is not None and len(json.dumps(value, default=str)) > JSON_MAX_BYTES:
                row[column] = None
                change = Change(None, NULLED, FIELD_SIZE_LIMITATION)
                changes = _note(changes, field_name, change, None)
        return self._stdlib_dumps(row, changes, meta_changes)

    def _stdlib_dumps(self, row: dict, changes: list | None, meta_changes: list | None) -> bytes:
        row["_airbyte_meta"] = self.meta_with(changes, meta_changes)  # not the orjson.Fragment
        return json.dumps(row, ensure_ascii=False, separators=(",", ":"), default=str).encode()


def _compile(shaper: RowShaper) -> tuple[Callable[..., bytes], TypedRecords | None]:
    """Generate `shape(data, emitted_at_ms, meta_changes)` for this stream's plan; with it the stream's typed
    path (typed_records.py), or None.

    Keys of `data` that are not columns are left in the row: without `jsonpaths`, StarRocks' JSON reader
    matches keys to columns by exact name and skips the others (be/src/exec/json_scanner.cpp,
    `_construct_row_without_jsonpath`), so removing them would only cost time. A missing key loads NULL, and
    a missing `__op` loads 0 (same function).
    """
    whole = [p for p in shaper.plans if p.path == WHOLE_RECORD]
    plans = [p for p in shaper.plans if p.path != WHOLE_RECORD]
    top = [p for p in plans if len(p.path) == 1]
    nested = [p for p in plans if len(p.path) > 1]
    # A whole-record column holds `data` itself, so the row must be a new dict (else it would contain itself).
    in_place = not whole and all(p.column == p.path[0] for p in top)
    dedup = bool(shaper.primary_key)
    json_columns = [(p.column, p.name) for p in plans if p.sr_type.kind == JSON]
    runtime = _Runtime(shaper, json_columns)
    namespace: dict[str, Any] = {
        "Change": Change, "note": _note, "dig": _dig, "key_error": _key_error, "STREAM": shaper.stream,
        "GEN": shaper.generation_id, "RAW_IDS": raw_ids(), "CDC": CDC_DELETED_AT, "RT": runtime,
        "dumps": orjson.dumps, "JSONEncodeError": orjson.JSONEncodeError, "JSON_MAX_BYTES": JSON_MAX_BYTES,
        "EXTRACTED": runtime.extracted, "META": runtime.meta,
    }  # fmt: skip
    lines = ["def shape(data, emitted_at_ms, meta_changes=None):", "    changes = None", "    get = data.get"]
    lines.append("    row = data" if in_place else "    row = {}")
    if dedup:
        lines.append('    row["__op"] = 0 if get(CDC) is None else 1')
    # Derived columns (key handling): computed from the record as it arrived, before fields are coerced.
    for index, (column, derive) in enumerate(_derived_columns(shaper)):
        namespace[f"D{index}"] = derive
        lines.append(f"    row[{column!r}] = D{index}(data)")
    for index, plan in enumerate(top):
        lines += _field_code(index, plan, namespace, in_place)
    for index, plan in enumerate(nested, start=len(top)):
        lines += _field_code(index, plan, namespace, in_place=False)
    for plan in whole:
        lines.append(f"    row[{plan.column!r}] = data")
    lines += [
        '    row["_airbyte_raw_id"] = next(RAW_IDS)',
        '    row["_airbyte_extracted_at"] = EXTRACTED.get(emitted_at_ms) or RT.extracted_at(emitted_at_ms)',
        '    row["_airbyte_meta"] = META if changes is None and not meta_changes '
        "else RT.meta_with(changes, meta_changes)",
        '    row["_airbyte_generation_id"] = GEN',
        "    try:",
        "        out = dumps(row)",
        "    except JSONEncodeError:",
        "        return RT.dump(row, changes, meta_changes)",
    ]
    if json_columns:  # only a JSON value can take a row past StarRocks' 16 MB JSON limit
        lines += ["    if len(out) > JSON_MAX_BYTES:", "        return RT.dump(row, changes, meta_changes)"]
    lines.append("    return out")
    code = "\n".join(lines)
    exec(compile(code, f"<shape {shaper.stream!r}>", "exec"), namespace)  # noqa: S102 - our own code
    # The typed path shares the runtime (the extracted_at cache); its decoder makes raw ids of its own.
    return namespace["shape"], compile_typed(shaper, runtime)


def _derived_columns(shaper: RowShaper) -> list[tuple[str, Any]]:
    derived = []
    if shaper.surrogate_key and shaper.primary_key:
        derived.append((shaper.surrogate_key, shaper.surrogate_of))
    if shaper.cursor_rank and shaper._cursor_coerce is not None:
        derived.append((shaper.cursor_rank, shaper.rank_of))
    return derived


def _field_code(index: int, plan: FieldPlan, namespace: dict, in_place: bool) -> list[str]:
    """Code for one column. The common case (a value of the wanted type) costs one lookup and one test."""
    fast, coerce = coercer(plan.sr_type, plan.field_kind)
    name, column = repr(plan.name), repr(plan.column)
    namespace[f"C{index}"] = coerce
    namespace[f"P{index}"] = plan.path
    namespace[f"R{index}"] = plan.reason
    top_level = len(plan.path) == 1
    getter = f"get({plan.path[0]!r})" if top_level else f"dig(data, P{index})"
    in_place = in_place and top_level  # the value already sits under its column name
    store = f"row[{column}] = v"
    code = [f"    v = {getter}"]
    if plan.key:
        code += ["    if v is None:", f"        raise key_error(STREAM, {name}, None)"]
    if object in fast:  # JSON: loaded as is; a value already under its column name needs no code at all
        if in_place:
            return code if plan.key else []
        return [*code, f"    {store}"]
    if fast == (int,):
        # Integers: orjson decodes up to 2**64 - 1, past BIGINT; a narrower existing column is narrower still.
        low, high = plan.sr_type.low, plan.sr_type.high
        namespace[f"LO{index}"], namespace[f"HI{index}"] = low, high
        test = f"type(v) is not int or not LO{index} <= v <= HI{index}"
        if low <= -(2**30) and high >= 2**30 - 1:
            # Python compares two one-digit ints (|v| < 2**30) without the generic comparison BIGINT's
            # limits need, so most values pass the first, cheaper range.
            test = (
                f"type(v) is not int or not (-0x40000000 <= v <= 0x3FFFFFFF or LO{index} <= v <= HI{index})"
            )
    elif fast == (float, int):
        # DOUBLE: `v - v` is 0.0 for a finite float, NaN (true) for inf and NaN, which orjson would write as
        # null without a word; the coercer nulls them with a change. (orjson never decodes them from JSON.)
        test = "(type(v) is not float or v - v) and type(v) is not int"
    elif fast:
        test = " and ".join(f"type(v) is not {t.__name__}" for t in fast)
    elif plan.sr_type.kind == STRING and plan.field_kind != TIME:
        # Strings only need work when they could be too long (4 bytes per character at most).
        test = f"type(v) is not str or len(v) > {plan.sr_type.length // 4}"
    else:
        test = None
    inner = "        " if test else "    "
    if test:
        code.append(f"    if {test}:")
    if plan.key:
        code += [f"{inner}try:", f"{inner}    v = C{index}(v)", f"{inner}except Change as e:"]
        code.append(f"{inner}    raise key_error(STREAM, {name}, e) from None")
        if in_place:
            code.append(f"{inner}{store}")
    else:
        code += [f"{inner}if v is not None:", f"{inner}    try:", f"{inner}        v = C{index}(v)"]
        code += [f"{inner}    except Change as e:", f"{inner}        v = e.value"]
        code.append(f"{inner}        changes = note(changes, {name}, e, R{index})")
        if in_place:
            code.append(f"{inner}    {store}")
    if not in_place:
        code.append(f"    {store}")
    return code
