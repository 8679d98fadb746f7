"""The shaper's fast paths give exactly what the plain coercers give.

The generated `shape()` skips a coercer when a value already has the column's Python type, and the
date-time and `_airbyte_extracted_at` conversions take shortcuts for the common shapes; each test here
checks a shortcut against the slow path it stands in for, on generated values (hypothesis).
"""

from __future__ import annotations

import json
import math
from datetime import datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from destination_starrocks.row_shaper import _MAX_MS, FieldPlan, RowShaper, _Runtime
from destination_starrocks.type_mapping import Change, coercer, parse_type


def _one_column(sr_type: str, value: object) -> tuple[object, list]:
    shaper = RowShaper((None, "s"), [FieldPlan(("f",), "f", parse_type(sr_type))])
    row = json.loads(shaper.shape({"f": value}, 0))  # the stdlib reads integers beyond 64 bits exactly
    return row.get("f"), row["_airbyte_meta"]["changes"]


@pytest.mark.parametrize("value", [math.inf, -math.inf, math.nan])
def test_a_non_finite_float_in_a_double_column_is_nulled_with_a_change(value: float) -> None:
    # orjson writes inf and NaN as null: without the check the value would vanish unrecorded.
    assert _one_column("DOUBLE", value) == (
        None,
        [{"field": "f", "change": "NULLED", "reason": "DESTINATION_FIELD_SIZE_LIMITATION"}],
    )


@given(st.one_of(st.floats(), st.integers(-(2**64), 2**64), st.booleans(), st.none(), st.text(max_size=8)))
def test_double_column_fast_path_agrees_with_the_coercer(value: object) -> None:
    coerce = coercer(parse_type("DOUBLE"))[1]
    try:
        expected = (None if value is None else coerce(value), [])
    except Change as change:
        expected = (change.value, [{"field": "f", "change": change.change, "reason": change.reason}])
    assert _one_column("DOUBLE", value) == expected


@pytest.mark.parametrize("column", ["TINYINT", "SMALLINT", "INT", "BIGINT", "LARGEINT"])
@given(
    value=st.one_of(st.integers(-(2**70), 2**70), st.sampled_from([2**30, 2**30 - 1, -(2**30), -(2**30) - 1]))
)
def test_integer_column_fast_path_agrees_with_the_coercer(column: str, value: int) -> None:
    coerce = coercer(parse_type(column))[1]
    try:
        expected = (coerce(value), [])
    except Change as change:
        expected = (change.value, [{"field": "f", "change": change.change, "reason": change.reason}])
    if isinstance(expected[0], str):
        expected = (int(expected[0]), expected[1])  # the coercer writes LARGEINT beyond 64 bits as text
    got = _one_column(column, value)
    if isinstance(got[0], str):
        got = (int(got[0]), got[1])
    assert got == expected


def _extracted_at_by_datetime(emitted_at_ms: object) -> str:
    """How `_airbyte_extracted_at` was computed before the per-second cache: datetime arithmetic."""
    epoch = datetime(1970, 1, 1)
    return (epoch + timedelta(milliseconds=emitted_at_ms)).isoformat(" ", "milliseconds")  # type: ignore[arg-type]


def _outcome(fn, value: object) -> object:  # noqa: ANN001
    try:
        return fn(value)
    except Exception as exc:  # noqa: BLE001 - the same exception type is part of the behaviour
        return type(exc)


@given(
    st.lists(
        st.one_of(
            st.integers(-(10**16), 10**16),
            st.integers(_MAX_MS - 2000, _MAX_MS + 2000),
            st.integers(1_700_000_000_000, 1_700_000_003_000),
            st.floats(allow_nan=True),
            st.booleans(),
        ),
        max_size=30,
    )
)
def test_extracted_at_text_is_what_datetime_gives_for_every_emitted_at(stamps: list) -> None:
    shaper = RowShaper((None, "s"), [])
    runtime = _Runtime(shaper, [])
    for stamp in sorted(stamps, key=repr) + stamps:  # runs of equal seconds, and jumps back and forth
        assert _outcome(runtime.extracted_at, stamp) == _outcome(_extracted_at_by_datetime, stamp)


def test_extracted_at_in_the_row_follows_emitted_at_across_seconds() -> None:
    shaper = RowShaper((None, "s"), [FieldPlan(("id",), "id", parse_type("BIGINT"))])
    for stamp in (1_700_000_000_999, 1_700_000_001_000, 1_700_000_001_001, 1_699_999_999_999, 0):
        row = json.loads(shaper.shape({"id": 1}, stamp))
        assert row["_airbyte_extracted_at"] == _extracted_at_by_datetime(stamp)
