"""Dedup keys and cursors StarRocks can compare: surrogate keys, canonical key values, string cursor ranks."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import orjson
from hypothesis import given
from hypothesis import strategies as st

from destination_starrocks.cursor_rank import RANK_CHARACTERS, string_rank
from destination_starrocks.key_plan import (
    canonical,
    encoded_key_bytes,
    key_columns_from_comment,
    number_text,
    stored_canonical,
    surrogate_comment,
    surrogate_key,
)
from destination_starrocks.type_mapping import (
    BOOLEAN,
    DATE,
    DATETIME,
    DECIMAL,
    DOUBLE,
    JSON,
    LARGEINT,
    coercer,
    parse_type,
)

LARGEINT_MIN, LARGEINT_MAX = -(2**127), 2**127 - 1


def test_numbers_equal_as_numbers_have_one_canonical_text():
    assert {number_text(v) for v in (2013, 2013.0, "2013", "2013.000000000", "2.013e3", 2.013e3)} == {"2013"}
    assert number_text(1e3) == number_text(1000) == "1000"
    assert number_text(0.1) == number_text("0.100000000") == "0.1"
    assert number_text(-0.0) == number_text(0) == "0"
    assert number_text(1.5e-7) == "0.00000015"
    assert number_text(10**30) == number_text(1e30) == "1" + "0" * 30


def test_surrogate_keys_are_signed_128_bit_and_differ_for_different_keys():
    keys = {surrogate_key([str(i), "eu"]) for i in range(10_000)}
    assert len(keys) == 10_000 and all(LARGEINT_MIN <= k <= LARGEINT_MAX for k in keys)
    # Components are framed: ("ab", "c") and ("a", "bc") are different keys.
    assert surrogate_key(["ab", "c"]) != surrogate_key(["a", "bc"])
    assert surrogate_key(["x"]) == surrogate_key(["x"])  # stable across calls (and runs: BLAKE2b, no seed)
    # Pinned: every surrogate-keyed table depends on this function never changing.
    assert surrogate_key(["x"]) == 90006212324958585775595308845389932870


def test_the_surrogate_column_comment_names_its_key_columns():
    comment = surrogate_comment(["id", "doc_sku"])
    assert key_columns_from_comment(comment) == ["id", "doc_sku"]
    assert key_columns_from_comment("something a user wrote") is None


def test_encoded_key_size_follows_starrocks_primary_key_encoder():
    varchar, bigint = parse_type("VARCHAR(65533)"), parse_type("BIGINT")
    assert encoded_key_bytes(["x" * 128], [varchar]) == 128  # single VARCHAR: its bytes
    assert encoded_key_bytes(["é" * 64], [varchar]) == 128
    assert encoded_key_bytes([5], [bigint]) == 0  # a single fixed-width key is never checked
    # Composite: fixed widths + VARCHAR bytes, and 2 (+1 per NUL) for a VARCHAR that is not last.
    assert encoded_key_bytes(["ab", 1], [varchar, bigint]) == 2 + 2 + 8
    assert encoded_key_bytes([1, "ab"], [bigint, varchar]) == 8 + 2
    assert encoded_key_bytes(["a\x00b", "c"], [varchar, varchar]) == 3 + 1 + 2 + 1


@given(st.text(max_size=40), st.text(max_size=40))
def test_the_rank_of_a_string_cursor_never_inverts_string_order(a, b):
    if a < b:
        assert string_rank(a) <= string_rank(b)
    assert 0 <= string_rank(a) <= LARGEINT_MAX


def test_the_rank_orders_iso_timestamps_to_the_second_and_ties_beyond():
    times = ["2024-01-05T09:59:59", "2024-01-05T10:00:00", "2024-01-05T10:00:01Z", "2024-12-31", "2025"]
    ranks = [string_rank(t) for t in times]
    assert ranks == sorted(ranks) and len(set(ranks)) == len(ranks)
    assert string_rank("abc") < string_rank("abcd") < string_rank("abd")
    assert string_rank("x" * RANK_CHARACTERS + "a") == string_rank("x" * RANK_CHARACTERS + "b")  # a tie
    assert string_rank("caf\u00e9 1") == string_rank("caf\u00e9 2")  # ranked up to the first non-ASCII
    assert string_rank("9") > string_rank("10")  # string order, as Airbyte compares a string cursor


# ---- the same canonical values from a row read back (a rebuild computes _airbyte_pk from them) -------------
# What StarRocks sends over the MySQL protocol is simulated here from its source; the round trip through a
# running server (the emulator, or a real StarRocks) is integration_tests/test_surrogate_keys.py.

JSON_LEAVES = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(st.characters(blacklist_categories=("Cs",)), max_size=8)
)
JSON_VALUES = st.recursive(
    JSON_LEAVES,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
)


def _as_starrocks_stores_json(value):  # noqa: ANN001, ANN202
    """simdjson's reading (integers as int64/uint64, else double) of the JSON the shaper sends."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return value if -(2**63) <= value <= 2**64 - 1 else float(value)
    if isinstance(value, float):
        return value
    if isinstance(value, list):
        return [_as_starrocks_stores_json(v) for v in value]
    return {k: _as_starrocks_stores_json(v) for k, v in value.items()}


def _velocypack_json(value, integral_doubles_as_ints: bool) -> str:  # noqa: ANN001
    """JSON text as be/src/util/json.cpp `to_string` (velocypack toJson) may print it: doubles in their
    shortest form, an integral double with or without its '.0', keys in any order (here: reversed)."""
    if isinstance(value, float):
        if value.is_integer() and integral_doubles_as_ints and abs(value) < 1e17:
            return str(int(value))
        return repr(value)
    if isinstance(value, list):
        return "[" + ",".join(_velocypack_json(v, integral_doubles_as_ints) for v in value) + "]"
    if isinstance(value, dict):
        items = [
            f"{orjson.dumps(k).decode()}:{_velocypack_json(v, integral_doubles_as_ints)}"
            for k, v in value.items()
        ]
        return "{" + ",".join(reversed(items)) + "}"
    return orjson.dumps(value).decode()


@given(JSON_VALUES, st.booleans())
def test_a_json_key_read_back_has_the_canonical_text_of_the_value_the_shaper_sent(value, integral_as_ints):
    sent = orjson.loads(orjson.dumps(value)) if not _beyond_64_bits(value) else value
    text = _velocypack_json(_as_starrocks_stores_json(sent), integral_as_ints)
    assert stored_canonical(JSON)(text) == canonical(JSON)(value)
    assert stored_canonical(JSON)(text.encode()) == canonical(JSON)(value)  # a driver may hand bytes


def _beyond_64_bits(value) -> bool:  # noqa: ANN001
    if isinstance(value, bool) or not isinstance(value, (int, list, dict)):
        return False
    if isinstance(value, int):
        return not -(2**63) <= value <= 2**64 - 1
    items = value if isinstance(value, list) else value.values()
    return any(_beyond_64_bits(v) for v in items)


@given(
    st.integers(-(2**80), 2**80)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.decimals(allow_nan=False, allow_infinity=False, places=6).map(str)
)
def test_a_number_key_read_back_from_its_double_column_has_the_canonical_text_of_the_record_value(value):
    coerced = coercer(parse_type("DOUBLE"))[1](value) if isinstance(value, str) else value
    stored = float(coerced)  # the DOUBLE StarRocks stores; its MySQL text is ryu's shortest round trip
    ryu = f"{stored!r}".upper().replace("E+", "E")  # e.g. 1E16; pymysql reads it with float()
    assert stored_canonical(DOUBLE)(stored) == stored_canonical(DOUBLE)(ryu) == canonical(DOUBLE)(coerced)


@given(
    st.integers(-(10**20), 10**20)
    | st.floats(-1e20, 1e20, allow_nan=False)
    | st.decimals(-(10**20), 10**20, allow_nan=False, allow_infinity=False, places=12).map(str)
)
def test_a_big_number_key_read_back_from_its_decimal_column_has_the_canonical_text_of_the_record_value(value):
    coerced = coercer(parse_type("DECIMAL(38,9)"))[1](value)  # "2013.000000000": what the column holds
    assert stored_canonical(DECIMAL)(Decimal(coerced)) == canonical(DECIMAL)(coerced)


ZONES = st.sampled_from(
    [None, dt.UTC, dt.timezone(dt.timedelta(hours=5, minutes=30)), dt.timezone(-dt.timedelta(hours=8))]
)


@given(st.datetimes(dt.datetime(1900, 1, 1), dt.datetime(2200, 1, 1)), ZONES, st.sampled_from(["T", " "]))
def test_a_date_time_key_read_back_has_the_canonical_text_of_the_record_value(moment, zone, sep):
    coerced = coercer(parse_type("DATETIME"))[1](moment.replace(tzinfo=zone).isoformat(sep))
    stored = dt.datetime.fromisoformat(coerced)  # pymysql's datetime from "YYYY-MM-DD HH:MM:SS[.ffffff]"
    assert (
        stored_canonical(DATETIME)(stored)
        == stored_canonical(DATETIME)(coerced)
        == canonical(DATETIME)(coerced)
    )


@given(st.dates(dt.date(1, 1, 1)), st.booleans(), st.integers(-(2**127), 2**127 - 1))
def test_dates_booleans_and_integers_read_back_have_the_canonical_text_of_the_record_value(day, flag, number):
    assert stored_canonical(DATE)(day) == canonical(DATE)(coercer(parse_type("DATE"))[1](day.isoformat()))
    assert stored_canonical(BOOLEAN)(int(flag)) == stored_canonical(BOOLEAN)(flag) == canonical(BOOLEAN)(flag)
    largeint = coercer(parse_type("LARGEINT"))[1](number)  # text beyond BIGINT
    assert (
        stored_canonical(LARGEINT)(str(number))
        == stored_canonical(LARGEINT)(number)
        == canonical(LARGEINT)(largeint)
    )


def test_numbers_equal_as_stored_values_are_one_key():
    assert canonical(DOUBLE)(2**70) == canonical(DOUBLE)(2**70 + 1)  # one DOUBLE
    assert canonical(JSON)({"a": 1.0, "b": [2]}) == canonical(JSON)({"b": [2.0], "a": 1}) == '{"a":1,"b":[2]}'
    assert canonical(JSON)({"a": 0.5}) != canonical(JSON)({"a": 1})
