"""The typed path (typed_records.py) loads exactly what the general path loads, or leaves the line to it.

Each line is written with the stdlib's json (which writes integers beyond 64 bits, that orjson cannot), then
given to both paths: the general one (orjson.loads, then `RowShaper.shape`) and the typed one. Whenever the
typed path takes a line, orjson must take it too, and both rows must be the same JSON, compared with the
stdlib's exact reader and with types kept apart (5 is not 5.0, True is not 1), `_airbyte_raw_id` aside, and
a column missing from a row read as null (StarRocks loads NULL for it: row_shaper.py `_compile`).
"""

from __future__ import annotations

import gc
import io
import json
import re
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from destination_starrocks.messages import Output
from destination_starrocks.row_shaper import WHOLE_RECORD, FieldPlan, RowShaper
from destination_starrocks.spec import StarRocksConfig
from destination_starrocks.type_mapping import TIME, parse_type
from destination_starrocks.typed_records import DECODE_ERRORS, RECORD_PREFIX, compile_typed
from destination_starrocks.writer import TYPED_MISSES_ALLOWED, Writer
from unit_tests.writer_fakes import FakeTarget, FinishRecorder, RecordingLoader

COLUMNS = {
    "big": "BIGINT",
    "small": "SMALLINT",
    "huge": "LARGEINT",
    "num": "DOUBLE",
    "flag": "BOOLEAN",
    "short": "VARCHAR(20)",
    "text": "VARCHAR(65533)",
    "at": "DATETIME",
    "day": "DATE",
    "clock": "VARCHAR(65533)",
    "money": "DECIMAL(10,2)",
    "doc": "JSON",
}
STREAM = (None, "s")


def _shaper(columns: dict[str, str] = COLUMNS, **options: Any) -> RowShaper:
    plans = [
        FieldPlan((name,), name, parse_type(sql_type), TIME if name == "clock" else None)
        for name, sql_type in columns.items()
    ]
    return RowShaper(STREAM, plans, generation_id=3, sync_id=7, **options)


def _line(data: Any, **record: Any) -> bytes:
    message = {
        "type": "RECORD",
        "record": {"stream": "s", "emitted_at": 1767225600123, "data": data, **record},
    }
    return json.dumps(message, ensure_ascii=False, separators=(",", ":")).encode("utf-8", "surrogatepass")


def _strict(value: Any) -> Any:
    """A form in which equal JSON is equal and 5, 5.0 and True are three different things."""
    if isinstance(value, dict):
        return {k: _strict(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_strict(v) for v in value]
    return (type(value).__name__, value)


AIRBYTE = {"_airbyte_raw_id", "_airbyte_extracted_at", "_airbyte_meta", "_airbyte_generation_id"}


def _normal(row: dict[str, Any]) -> dict[str, Any]:
    """The row as StarRocks loads it: every column (missing ones null), no other key; the raw id aside."""
    assert row.pop("_airbyte_raw_id")
    return {column: row.get(column) for column in COLUMNS.keys() | AIRBYTE - {"_airbyte_raw_id"}}


def _general(shaper: RowShaper, line: bytes) -> Any:
    record = orjson.loads(line)["record"]
    meta = record.get("meta")
    row = json.loads(
        shaper.shape(record["data"], record.get("emitted_at") or 0, meta and meta.get("changes"))
    )
    return _normal(row)


def _typed(shaper: RowShaper, line: bytes) -> Any | None:
    """The typed path's row, or None when it leaves the line to the general path."""
    typed = shaper.typed
    assert typed is not None
    try:
        record = typed.decode(line).record
    except DECODE_ERRORS:
        return None
    out = typed.shape(record.data, record.emitted_at or 0)
    if out is None:
        return None
    row = json.loads(bytes(out))
    assert set(row) <= COLUMNS.keys() | AIRBYTE  # no key that is not a column
    return _normal(row)


def _agree(line: bytes, shaper: RowShaper | None = None) -> bool:
    """Assert both paths agree on `line`; True when the typed path took it."""
    shaper = shaper or _shaper()
    typed = _typed(shaper, line)
    if typed is None:
        return False
    general = _general(shaper, line)  # raises if orjson refuses a line the typed path took
    assert _strict(typed) == _strict(general), line
    return True


JSON_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=6),
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=3), children, max_size=3)
    ),
    max_leaves=12,
)
DATE_TIMES = st.sampled_from(
    [
        "2025-02-19T14:49:09.988390Z",
        "2025-02-19T14:49:09Z",
        "2025-02-19 14:49:09",
        "2025-02-19T14:49:09.988390+02:00",
        "2025-W08-3T14:49:09.988390Z",
        "2025-02-30T14:49:09.988390Z",
        "20250219T144909.988390Z",
        "2025-02-19x14:49:09.988390Z",
        "not a date",
    ]
)
ANY_VALUE = st.one_of(JSON_VALUES, DATE_TIMES, st.sampled_from(["2024-01-01", "12:34:56", "12.345", "true"]))


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from([*COLUMNS, "extra"]), ANY_VALUE, max_size=len(COLUMNS) + 1))
def test_typed_path_loads_what_the_general_path_loads(data: dict[str, Any]) -> None:
    _agree(_line(data))


@settings(max_examples=200)
@given(
    big=st.integers(-(2**64), 2**64),
    num=st.one_of(st.integers(-(2**64), 2**64), st.floats(allow_nan=False, allow_infinity=False)),
    doc=JSON_VALUES,
    at=DATE_TIMES,
    short=st.text(max_size=8),
)
def test_typed_path_on_values_of_the_right_types(big: int, num: float, doc: Any, at: str, short: str) -> None:
    _agree(_line({"big": big, "num": num, "doc": doc, "at": at, "short": short}))


def test_the_common_record_goes_the_typed_way() -> None:
    data = {
        "big": 12,
        "small": -3,
        "huge": 2**62,
        "num": 5,
        "flag": True,
        "short": "Zoë",
        "text": "数据 🚀 back\\slash",
        "at": "2025-02-19T14:49:09.988390Z",
        "day": "2024-01-01",
        "clock": "12:34:56",
        "money": "12.345",
        "doc": {"a": [1, 2.5, None, {"b": "c"}]},
    }
    assert _agree(_line(data))
    assert _agree(_line({"big": None}))  # missing columns load NULL both ways
    assert _agree(_line({"at": "not a date"}))  # a change is recorded both ways


@pytest.mark.parametrize(
    "line",
    [
        # orjson refuses these lines (not valid UTF-8, a number past a double, a lone surrogate); msgspec
        # skips an unknown key's value without looking: the typed path must not take them.
        b'{"type":"RECORD","record":{"stream":"s","data":{"big":1,"x":"\xff"}}}',
        b'{"type":"RECORD","record":{"stream":"s","data":{"big":1,"x":1e999}}}',
        b'{"type":"RECORD","record":{"stream":"s","data":{"big":1},"x":"\\ud800"}}',
        b'{"type":"RECORD","record":{"stream":"s","data":{"doc":1e999}}}',
        b'{"type":"RECORD","record":{"stream":"s","data":{"doc":"\xff"}}}',
    ],
)
def test_lines_orjson_refuses_are_left_to_the_general_path(line: bytes) -> None:
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(line)
    assert _typed(_shaper(), line) is None


@pytest.mark.parametrize(
    ("data", "why"),
    [
        ({"doc": {"n": 2**64}}, "orjson reads it as a float; StarRocks' JSON reader refuses the integer"),
        ({"doc": [-(2**63) - 1]}, "the same below 64 bits"),
        ({"big": 2**63}, "past BIGINT: the coercer nulls it with a change"),
        ({"num": 2**63}, "orjson keeps an integer up to 2**64 - 1; msgspec bounds stop at 2**63 - 1"),
        ({"short": "x" * 6}, "may be too long in bytes: the coercer measures"),
        ({"big": "12"}, "a string in an integer column: the coercer converts it"),
        ({"flag": 1}, "an integer in a boolean column"),
        ({"big": 1.0}, "a float in an integer column"),
        ({"extra": 1}, "a key that is not a column"),
        ({"doc": json.loads("[" * 10 + "]" * 10)}, "deeper than the typed JSON value"),
    ],
)
def test_values_the_typed_path_leaves_to_the_general_path(data: dict[str, Any], why: str) -> None:
    assert _typed(_shaper(), _line(data)) is None, why
    _general(_shaper(), _line(data))  # and the general path loads them


def test_record_fields_the_typed_path_leaves_to_the_general_path() -> None:
    shaper = _shaper()
    assert _typed(shaper, _line({"big": 1})) is not None
    assert _typed(shaper, _line({"big": 1}, meta={"changes": []})) is None  # the source's changes are merged
    assert _typed(shaper, _line({"big": 1}, emitted_at=1.5)) is None
    assert _typed(shaper, _line({"big": 1}, emitted_at=True)) is None
    assert _typed(shaper, _line({"big": 1}, file={"x": 1})) is None
    assert _typed(shaper, _line({"big": 1}, namespace=5)) is None
    assert _typed(shaper, b'{"record":{"stream":"s","data":{}},"type":"RECORD"}') is not None  # any key order
    assert _typed(shaper, b'{"type":"STATE","state":{}}') is None
    assert _typed(shaper, _line({"big": 1}, meta=None)) is not None


def test_airbyte_columns_a_source_sends_are_replaced_as_the_general_path_replaces_them() -> None:
    line = _line({"big": 1, "_airbyte_meta": {"x": 2**70}, "_airbyte_raw_id": 5})
    typed = _typed(_shaper(), line)
    assert typed is None or _strict(typed) == _strict(_general(_shaper(), line))


def test_a_row_past_the_json_limit_goes_the_general_way(monkeypatch: pytest.MonkeyPatch) -> None:
    import destination_starrocks.typed_records as typed_records

    monkeypatch.setattr(typed_records, "JSON_MAX_BYTES", 400)  # the general path's test: the whole row's size
    shaper = _shaper()
    assert _typed(shaper, _line({"doc": "x" * 10})) is not None
    assert _typed(shaper, _line({"doc": "x" * 400})) is None


@pytest.mark.parametrize(
    ("options", "plans"),
    [
        ({"primary_key": [("big",)]}, None),  # dedup streams: keys, __op, keyed buffers
        ({}, [FieldPlan(("a", "b"), "a_b", parse_type("BIGINT"))]),  # a nested column
        ({}, [FieldPlan(("a",), "b", parse_type("BIGINT"))]),  # a column renamed from its field
        ({}, [FieldPlan(WHOLE_RECORD, "_airbyte_data", parse_type("JSON"))]),  # the whole record
        ({}, [FieldPlan(("_airbyte_meta",), "_airbyte_meta", parse_type("JSON"))]),
    ],
)
def test_streams_outside_the_domain_have_no_typed_path(options: dict, plans: list | None) -> None:
    if plans is None:
        shaper = _shaper(**options)
    else:
        shaper = RowShaper(STREAM, plans, **options)
    assert shaper.typed is None
    assert compile_typed(shaper, None) is None


def _writer(*targets: FakeTarget) -> Writer:
    return Writer(
        StarRocksConfig(host="localhost"),
        list(targets),
        RecordingLoader(),
        FinishRecorder(),
        Output(io.BytesIO()),
    )


def _buffered(lines: list[bytes], typed: bool) -> tuple[list[Any], Any]:
    writer = _writer(FakeTarget(STREAM, shaper=_shaper()))
    runtime = writer._streams[STREAM]
    if not typed:
        runtime.typed = None
    try:
        writer._consume(lines)
        rows = json.loads(bytes(runtime.buffer.data[:-1]) + b"]")
    finally:
        writer._stop_pool()
    return [_normal(row) for row in rows], runtime


def test_the_writer_buffers_the_same_rows_either_way() -> None:
    lines = [
        _line({"big": 1, "at": "2025-02-19T14:49:09.988390Z"}),
        _line({"big": "2"}),  # the general way
        b'{"type":"STATE","state":{"type":"LEGACY","data":{}}}',
        _line(
            {"big": 3},
            meta={"changes": [{"field": "x", "change": "NULLED", "reason": "SOURCE_RETRIEVAL_ERROR"}]},
        ),
        _line({"doc": {"n": 2**64}}),
        b"\n",
        _line({"big": 4, "extra": True}),
        _line({"big": 5}) + b"\n",  # trailing whitespace, as a line read without the reader has
    ]
    with_typed, runtime = _buffered(lines, typed=True)
    without, _ = _buffered(lines, typed=False)
    assert _strict(with_typed) == _strict(without)
    assert len(with_typed) == 6
    assert runtime.typed_misses == 4  # "2", meta, the integer past 64 bits, the extra key


def test_the_writer_stops_trying_the_typed_path_when_lines_keep_missing_it() -> None:
    line = _line({"big": 1, "extra": "not a column"})
    rows, runtime = _buffered([line] * (TYPED_MISSES_ALLOWED + 5), typed=True)
    assert len(rows) == TYPED_MISSES_ALLOWED + 5
    assert runtime.typed is None
    assert runtime.typed_misses == TYPED_MISSES_ALLOWED + 1


def test_record_prefix_is_how_airbyte_writes_a_record() -> None:
    assert _line({}).startswith(RECORD_PREFIX)


def test_records_of_another_stream_are_not_misses() -> None:
    # Two streams of different schemas, alternating: each line first meets the other stream's typed path.
    other = RowShaper((None, "t"), [FieldPlan(("name",), "name", parse_type("VARCHAR(100)"))])
    writer = _writer(FakeTarget(STREAM, shaper=_shaper()), FakeTarget((None, "t"), shaper=other))
    s_line = _line({"big": 1})
    t_line = s_line.replace(b'"stream":"s"', b'"stream":"t"').replace(b'{"big":1}', b'{"name":"x"}')
    try:
        writer._consume([s_line, t_line] * (TYPED_MISSES_ALLOWED + 5))
        runtimes = [writer._streams[(None, "s")], writer._streams[(None, "t")]]
        assert [r.buffer.records for r in runtimes] == [TYPED_MISSES_ALLOWED + 5] * 2
        assert [r.typed_misses for r in runtimes] == [0, 0]
        assert all(r.typed is not None for r in runtimes)
    finally:
        writer._stop_pool()


def test_decoded_records_are_not_tracked_by_the_cycle_collector() -> None:
    # They hold decoded JSON values only (no cycle can go through them) and live for one record.
    typed = _shaper().typed
    assert typed is not None
    message = typed.decode(_line({"big": 1, "doc": {"a": [1]}}))
    assert not any(gc.is_tracked(o) for o in (message, message.record, message.record.data))


@pytest.mark.parametrize("column", sorted(AIRBYTE))
def test_a_source_value_under_an_airbyte_column_name_goes_the_general_way_even_null(column: str) -> None:
    # The decoder fills these columns itself (defaults), so it must never take a value for one.
    line = _line({"big": 1, column: None})
    assert _typed(_shaper(), line) is None
    general = _general(_shaper(), line)  # the raw id is checked by _normal
    assert column == "_airbyte_raw_id" or general[column] is not None


def test_typed_rows_get_unique_raw_ids_and_their_own_generation_and_meta() -> None:
    # Streams of one schema share a decoder (and its raw ids) only when generation and sync are the same too.
    first, second = _shaper(), _shaper()
    other = RowShaper(STREAM, first.plans, generation_id=4, sync_id=8)
    ids, generations, metas = set(), set(), set()
    for shaper in (first, second, other):
        for n in range(300):
            row = json.loads(bytes(_typed_row(shaper, _line({"big": n}))))
            ids.add(row["_airbyte_raw_id"])
            generations.add(row["_airbyte_generation_id"])
            metas.add(json.dumps(row["_airbyte_meta"], sort_keys=True))
    assert len(ids) == 900
    assert all(
        re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", i) for i in ids
    )
    assert generations == {3, 4}
    assert metas == {'{"changes": [], "sync_id": 7}', '{"changes": [], "sync_id": 8}'}


def _typed_row(shaper: RowShaper, line: bytes) -> bytearray:
    typed = shaper.typed
    assert typed is not None
    record = typed.decode(line).record
    out = typed.shape(record.data, record.emitted_at or 0)
    assert out is not None
    return out
