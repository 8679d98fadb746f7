"""JSON schema -> StarRocks types, and every type's coercion of valid and invalid values (with meta changes)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from destination_starrocks.errors import RecordError
from destination_starrocks.key_plan import needs_surrogate
from destination_starrocks.row_shaper import FieldPlan, RowShaper
from destination_starrocks.type_mapping import (
    STRING_BYTES,
    _datetime,
    can_widen,
    column_type,
    parse_type,
    schema_kind,
    type_table_markdown,
)

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    ("schema", "expected"),
    [
        ({"type": "string"}, "VARCHAR(65533)"),
        ({"type": ["null", "string"]}, "VARCHAR(65533)"),
        ({"type": "string", "format": "date"}, "DATE"),
        ({"type": "string", "format": "date-time"}, "DATETIME"),
        ({"type": "string", "format": "date-time", "airbyte_type": "timestamp_without_timezone"}, "DATETIME"),
        ({"type": "string", "airbyte_type": "timestamp_with_timezone"}, "DATETIME"),
        ({"type": "string", "format": "time"}, "VARCHAR(65533)"),
        ({"type": "integer"}, "BIGINT"),
        ({"type": "number", "airbyte_type": "integer"}, "BIGINT"),
        ({"type": "integer", "airbyte_type": "big_integer"}, "LARGEINT"),
        ({"type": "string", "airbyte_type": "big_integer"}, "LARGEINT"),
        ({"type": "number"}, "DOUBLE"),
        ({"type": "number", "airbyte_type": "big_number"}, "DECIMAL(38,9)"),
        ({"type": "boolean"}, "BOOLEAN"),
        ({"type": "object", "properties": {"a": {"type": "string"}}}, "JSON"),
        ({"type": "array", "items": {"type": "integer"}}, "JSON"),
        ({"type": ["string", "integer"]}, "JSON"),
        ({"oneOf": [{"type": "string"}, {"type": "integer"}]}, "JSON"),
        ({"anyOf": [{"type": "null"}, {"type": "integer"}]}, "BIGINT"),
        ({}, "JSON"),
        (True, "JSON"),
        ({"$ref": "WellKnownTypes.json#/definitions/Integer"}, "BIGINT"),
        ({"$ref": "WellKnownTypes.json#/definitions/TimestampWithTimezone"}, "DATETIME"),
        ({"$ref": "WellKnownTypes.json#/definitions/Date"}, "DATE"),
        ({"$ref": "WellKnownTypes.json#/definitions/Number"}, "DOUBLE"),
        ({"$ref": "WellKnownTypes.json#/definitions/BinaryData"}, "VARCHAR(65533)"),
    ],
)
def test_json_schema_maps_to_starrocks_type(schema, expected):
    assert column_type(schema) == expected


def test_key_fields_keep_their_types_and_only_fixed_width_ones_can_be_the_primary_key_itself():
    # Before: `number` keys became DECIMAL(38,9), which StarRocks refuses as a PRIMARY KEY column (KeysDesc).
    assert column_type({"type": "number"}, key=True) == "DOUBLE"
    assert column_type({"type": "object"}, key=True) == "JSON"
    natural = ["integer", "big_integer", "boolean", "date", "date-time"]
    kinds = {
        "integer": {"type": "integer"}, "big_integer": {"type": "integer", "airbyte_type": "big_integer"},
        "boolean": {"type": "boolean"}, "date": {"type": "string", "format": "date"},
        "date-time": {"type": "string", "format": "date-time"}, "string": {"type": "string"},
        "time": {"type": "string", "format": "time"}, "number": {"type": "number"},
        "big_number": {"type": "number", "airbyte_type": "big_number"}, "object": {"type": "object"},
        "array": {"type": "array"}, "union": {"type": ["string", "integer"]},
    }  # fmt: skip
    for name, schema in kinds.items():
        assert needs_surrogate([schema_kind(schema)]) is (name not in natural), name
        if name in natural:  # the types StarRocks allows as key columns
            assert column_type(schema) in ("BIGINT", "LARGEINT", "BOOLEAN", "DATE", "DATETIME")
    assert not needs_surrogate(["BIGINT"] * 16) and needs_surrogate(["BIGINT"] * 17)  # 8 bytes each, 128 max


@pytest.mark.parametrize(
    ("text", "kind", "spelled"),
    [
        ("varchar(65533)", "STRING", "VARCHAR(65533)"),
        ("VARCHAR(10)", "STRING", "VARCHAR(10)"),
        ("bigint(20)", "BIGINT", "BIGINT"),
        ("int(11)", "BIGINT", "INT"),
        ("largeint(40)", "LARGEINT", "LARGEINT"),
        ("decimal(38, 9)", "DECIMAL", "DECIMAL(38,9)"),
        ("DECIMAL128(20,2)", "DECIMAL", "DECIMAL(20,2)"),
        ("datetime", "DATETIME", "DATETIME"),
        ("date", "DATE", "DATE"),
        ("boolean", "BOOLEAN", "BOOLEAN"),
        ("json", "JSON", "JSON"),
        ("array<int(11)>", "JSON", "ARRAY<INT(11)>"),
    ],
)
def test_desc_types_are_understood(text, kind, spelled):
    parsed = parse_type(text)
    assert (parsed.kind, parsed.text) == (kind, spelled)


def test_widening_follows_starrocks_modify_column_rules():
    p = parse_type
    assert can_widen(p("INT"), p("BIGINT"))
    assert can_widen(p("BIGINT"), p("DOUBLE"))
    assert can_widen(p("BIGINT"), p("VARCHAR(65533)"))
    assert can_widen(p("DOUBLE"), p("VARCHAR(65533)"))
    assert can_widen(p("VARCHAR(10)"), p("VARCHAR(65533)"))
    assert can_widen(p("DATE"), p("DATETIME"))
    assert not can_widen(p("BIGINT"), p("BIGINT"))
    assert not can_widen(p("VARCHAR(65533)"), p("BIGINT"))
    assert not can_widen(p("VARCHAR(65533)"), p("VARCHAR(10)"))
    assert not can_widen(p("DOUBLE"), p("BIGINT"))
    assert not can_widen(p("JSON"), p("VARCHAR(65533)"))
    assert not can_widen(p("BOOLEAN"), p("BIGINT"))
    assert not can_widen(p("DATETIME"), p("DATE"))


def shaper_for(schema: dict, dedup_key: str | None = None, column_types: dict | None = None) -> RowShaper:
    plans = []
    for field, field_schema in schema.items():
        key = field == dedup_key
        sr_type = parse_type((column_types or {}).get(field) or column_type(field_schema, key=key))
        plans.append(FieldPlan((field,), field, sr_type, schema_kind(field_schema), key=key))
    return RowShaper(
        ("ns", "stream"), plans, generation_id=7, sync_id=99, primary_key=[(dedup_key,)] if dedup_key else ()
    )


def shaped(schema: dict, value, **kwargs) -> tuple[object, list]:
    row = orjson.loads(shaper_for({"f": schema}, **kwargs).shape({"f": value}, 1_700_000_000_000))
    return row.get("f"), row["_airbyte_meta"]["changes"]


def nulled(reason: str = "DESTINATION_SERIALIZATION_ERROR") -> list:
    return [{"field": "f", "change": "NULLED", "reason": reason}]


S, DT = {"type": "string"}, {"type": "string", "format": "date-time"}


@pytest.mark.parametrize(
    ("schema", "value", "expected", "changes"),
    [
        # integer -> BIGINT
        ({"type": "integer"}, 42, 42, []),
        ({"type": "integer"}, "42", 42, []),
        ({"type": "integer"}, 42.0, 42, []),
        ({"type": "integer"}, 4.5, None, nulled()),
        ({"type": "integer"}, "forty-two", None, nulled()),
        ({"type": "integer"}, True, None, nulled()),
        ({"type": "integer"}, {"a": 1}, None, nulled()),
        ({"type": "integer"}, 2**63, None, nulled("DESTINATION_FIELD_SIZE_LIMITATION")),
        ({"type": "integer"}, -(2**63), -(2**63), []),
        # big_integer -> LARGEINT (text beyond 64 bits: orjson cannot write it, StarRocks parses it)
        ({"type": "integer", "airbyte_type": "big_integer"}, "170141183460469231731687303715884105727",
         "170141183460469231731687303715884105727", []),
        ({"type": "integer", "airbyte_type": "big_integer"}, "170141183460469231731687303715884105728",
         None, nulled("DESTINATION_FIELD_SIZE_LIMITATION")),
        # number -> DOUBLE
        ({"type": "number"}, 1.5, 1.5, []),
        ({"type": "number"}, 3, 3, []),
        ({"type": "number"}, "2.25", 2.25, []),
        ({"type": "number"}, "NaN", None, nulled()),
        ({"type": "number"}, "abc", None, nulled()),
        ({"type": "number"}, False, None, nulled()),
        # big_number -> DECIMAL(38,9)
        ({"type": "number", "airbyte_type": "big_number"}, 1.5, "1.500000000", []),
        ({"type": "number", "airbyte_type": "big_number"}, "12345678901234567890.123456789", "12345678901234567890.123456789", []),
        ({"type": "number", "airbyte_type": "big_number"}, "1" * 30, None, nulled("DESTINATION_FIELD_SIZE_LIMITATION")),
        ({"type": "number", "airbyte_type": "big_number"}, "x", None, nulled()),
        # boolean
        ({"type": "boolean"}, True, True, []),
        ({"type": "boolean"}, "false", False, []),
        ({"type": "boolean"}, 1, None, nulled()),
        # string -> VARCHAR(65533)
        (S, "hello", "hello", []),
        (S, 12, "12", []),
        (S, {"a": [1, 2]}, '{"a":[1,2]}', []),
        (S, True, "true", []),
        # date
        ({"type": "string", "format": "date"}, "2024-02-29", "2024-02-29", []),
        ({"type": "string", "format": "date"}, "2024-02-29T10:00:00Z", "2024-02-29", []),
        # Shapes Python reads and StarRocks is not known to: sent as YYYY-MM-DD / YYYY-MM-DD HH:MM:SS.
        ({"type": "string", "format": "date"}, "2024-W01-1", "2024-01-01", []),
        ({"type": "string", "format": "date"}, "20240229", "2024-02-29", []),
        ({"type": "string", "format": "date"}, "2023-02-29", None, nulled()),
        ({"type": "string", "format": "date"}, 20240101, None, nulled()),
        # date-time -> DATETIME in UTC
        (DT, "2024-01-01T12:34:56Z", "2024-01-01 12:34:56", []),
        (DT, "2024-01-01T12:34:56.123456+00:00", "2024-01-01 12:34:56.123456", []),
        (DT, "2024-01-01T12:34:56.123456789Z", "2024-01-01 12:34:56.123456", []),
        (DT, "2024-01-01T12:34:56.000001Z", "2024-01-01 12:34:56.000001", []),  # the 27-character fast path
        (DT, "2024-02-30T12:34:56.000001Z", None, nulled()),  # its shape, not a date: the parse refuses it
        (DT, "2024-01-01T12:34:56+02:00", "2024-01-01 10:34:56", []),
        (DT, "2024-01-01T01:00:00.5-05:30", "2024-01-01 06:30:00.500000", []),
        (DT, "2024-01-01T12:34:56", "2024-01-01 12:34:56", []),
        (DT, "2024-01-01 12:34:56", "2024-01-01 12:34:56", []),
        (DT, "2024-01-01", "2024-01-01 00:00:00", []),
        (DT, "20240101T123456Z", "2024-01-01 12:34:56", []),
        (DT, "2024-01-01x12:34:56", "2024-01-01 12:34:56", []),
        (DT, "2024-01-01x12:34:56Z", "2024-01-01 12:34:56", []),
        (DT, "9999-12-31T23:00:00-05:00", None, nulled("DESTINATION_FIELD_SIZE_LIMITATION")),
        (DT, "yesterday", None, nulled()),
        (DT, "2024-13-01T00:00:00Z", None, nulled()),
        (DT, 1700000000, None, nulled()),
        # time -> VARCHAR, validated
        ({"type": "string", "format": "time"}, "12:34:56", "12:34:56", []),
        ({"type": "string", "format": "time"}, "12:34:56.789+01:00", "12:34:56.789+01:00", []),
        ({"type": "string", "format": "time"}, "25:00", None, nulled()),
        # JSON: anything, as is
        ({"type": "object"}, {"a": {"b": [1, None, "x"]}}, {"a": {"b": [1, None, "x"]}}, []),
        ({"type": "array"}, [1, "two"], [1, "two"], []),
        ({}, "just a string", "just a string", []),
        ({"type": ["string", "integer"]}, 5, 5, []),
    ],
)  # fmt: skip
def test_values_are_coerced_or_nulled_with_a_change(schema, value, expected, changes):
    assert shaped(schema, value) == (expected, changes)


def test_null_and_missing_values_stay_null_without_a_change():
    shaper = shaper_for({"a": {"type": "integer"}, "b": DT})
    row = orjson.loads(shaper.shape({"a": None}, 0))
    assert row["a"] is None and "b" not in row
    assert row["_airbyte_meta"]["changes"] == []


def test_long_strings_are_truncated_at_a_utf8_boundary():
    value = "é" * STRING_BYTES  # two bytes each
    out, changes = shaped(S, value)
    assert changes == [{"field": "f", "change": "TRUNCATED", "reason": "DESTINATION_FIELD_SIZE_LIMITATION"}]
    assert len(out.encode()) <= STRING_BYTES and out == "é" * (STRING_BYTES // 2)


def test_strings_just_under_the_limit_are_kept_whole():
    value = "a" * STRING_BYTES
    assert shaped(S, value) == (value, [])


def test_a_shorter_existing_varchar_column_truncates_to_its_own_length():
    out, changes = shaped(S, "abcdefghij", column_types={"f": "varchar(4)"})
    assert out == "abcd" and changes[0]["change"] == "TRUNCATED"


def test_airbyte_columns_are_written_on_every_row():
    shaper = shaper_for({"id": {"type": "integer"}})
    first = orjson.loads(shaper.shape({"id": 1}, 1_700_000_000_123))
    second = orjson.loads(shaper.shape({"id": 2}, 1_700_000_000_123))
    assert first["_airbyte_extracted_at"] == "2023-11-14 22:13:20.123"
    assert first["_airbyte_generation_id"] == 7
    assert first["_airbyte_meta"] == {"changes": [], "sync_id": 99}
    assert first["_airbyte_raw_id"] != second["_airbyte_raw_id"]
    assert len(first["_airbyte_raw_id"]) == 36 and first["_airbyte_raw_id"][14] == "4"
    assert "__op" not in first


def test_source_meta_changes_are_kept():
    shaper = shaper_for({"id": {"type": "integer"}})
    source = [{"field": "big", "change": "TRUNCATED", "reason": "SOURCE_FIELD_SIZE_LIMITATION"}]
    row = orjson.loads(shaper.shape({"id": "x"}, 0, meta_changes=source))
    assert row["_airbyte_meta"]["changes"] == [*source, nulled()[0] | {"field": "id"}]


def test_dedup_rows_carry_op_and_cdc_deletes_set_it():
    shaper = shaper_for({"id": {"type": "integer"}, "_ab_cdc_deleted_at": DT}, dedup_key="id")
    assert orjson.loads(shaper.shape({"id": 1}, 0))["__op"] == 0
    deleted = {"id": 1, "_ab_cdc_deleted_at": "2024-01-01T00:00:00Z"}
    assert orjson.loads(shaper.shape(deleted, 0))["__op"] == 1


def test_null_primary_key_fails_naming_stream_and_field():
    shaper = shaper_for({"id": {"type": "integer"}}, dedup_key="id")
    for record in ({"id": None}, {}, {"id": "not a number"}):
        with pytest.raises(RecordError, match=r"'ns\.stream'.*'id'"):
            shaper.shape(dict(record), 0)
        with pytest.raises(RecordError):
            shaper.dedup_key(dict(record))


def test_dedup_key_and_cursor_value_are_typed_before_and_after_shape():
    plans = [
        FieldPlan(("id",), "id", parse_type("BIGINT"), "BIGINT", key=True),
        FieldPlan(("ts",), "ts", parse_type("DATETIME"), "DATETIME"),
    ]
    shaper = RowShaper(
        (None, "s"), plans, primary_key=[("id",)], cursor=("ts",), cursor_type=parse_type("DATETIME")
    )
    record = {"id": "5", "ts": "2024-01-01T10:00:00+01:00"}
    before = (shaper.dedup_key(record), shaper.cursor_value(record))
    shaper.shape(record, 0)
    after = (shaper.dedup_key(record), shaper.cursor_value(record))
    assert before == after == ((5,), "2024-01-01 09:00:00")
    assert shaper.cursor_value({"id": 1, "ts": "garbage"}) is None


def test_nested_primary_key_becomes_its_own_column():
    plans = [
        FieldPlan(("doc",), "doc", parse_type("JSON"), "JSON"),
        FieldPlan(("doc", "id"), "doc_id", parse_type("BIGINT"), "BIGINT", key=True),
    ]
    shaper = RowShaper((None, "s"), plans, primary_key=[("doc", "id")])
    row = orjson.loads(shaper.shape({"doc": {"id": 3, "x": 1}}, 0))
    assert row["doc_id"] == 3 and row["doc"] == {"id": 3, "x": 1}
    assert shaper.dedup_key({"doc": {"id": 3}}) == (3,)
    with pytest.raises(RecordError, match="doc.id"):
        shaper.shape({"doc": {"x": 1}}, 0)


def test_renamed_columns_are_written_under_their_column_names():
    plans = [
        FieldPlan(("user-name",), "user_name", parse_type("VARCHAR(65533)"), "STRING"),
        FieldPlan(("Age",), "Age", parse_type("BIGINT"), "BIGINT"),
    ]
    row = orjson.loads(RowShaper((None, "s"), plans).shape({"user-name": "x", "Age": "7", "other": 1}, 0))
    assert row["user_name"] == "x" and row["Age"] == 7 and "user-name" not in row and "other" not in row


def test_a_column_that_kept_an_older_type_nulls_with_typecast_error():
    plan = FieldPlan(("f",), "f", parse_type("BIGINT"), "STRING", reason="DESTINATION_TYPECAST_ERROR")
    row = orjson.loads(RowShaper((None, "s"), [plan]).shape({"f": "abc"}, 0))
    assert row["f"] is None
    assert row["_airbyte_meta"]["changes"] == [nulled("DESTINATION_TYPECAST_ERROR")[0]]


def test_integers_beyond_64_bits_inside_json_values_still_serialise():
    out, changes = shaped({"type": "object"}, {"n": 2**70})
    assert out == {"n": 2**70} and changes == []


@given(st.dictionaries(st.sampled_from(["a", "b", "c", "d"]), st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=30),
    st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)))  # fmt: skip
def test_any_record_shapes_into_one_json_object_and_never_loses_the_row(record):
    schema = {"a": {"type": "integer"}, "b": DT, "c": {"type": "number"}, "d": {"type": "boolean"}}
    row = orjson.loads(shaper_for(schema).shape(dict(record), 0))
    changed = {c["field"] for c in row["_airbyte_meta"]["changes"]}
    for field in schema:
        if field in changed:
            assert row[field] is None
        elif record.get(field) is not None:
            assert row[field] is not None


def test_docs_type_table_matches_the_code():
    doc = (REPO / "docs" / "starrocks.md").read_text()
    start, end = "<!-- type-mapping:start -->", "<!-- type-mapping:end -->"
    assert start in doc and end in doc
    section = doc.split(start, 1)[1].split(end, 1)[0]
    assert type_table_markdown() in section


@given(st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59)))
def test_the_commonest_date_time_shape_gives_what_datetime_gives(moment: datetime) -> None:
    # "YYYY-MM-DDTHH:MM:SS.ffffffZ" takes _datetime's first exit; the text must be datetime's own.
    text = moment.isoformat("T", timespec="microseconds") + "Z"
    assert len(text) == 27
    assert _datetime(text) == moment.isoformat(" ", timespec="microseconds")
