"""Dedup keys and cursors StarRocks can compare: surrogate keys, canonical key values, string cursor ranks."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from destination_starrocks.cursor_rank import RANK_CHARACTERS, string_rank
from destination_starrocks.key_plan import (
    encoded_key_bytes,
    key_columns_from_comment,
    number_text,
    surrogate_comment,
    surrogate_key,
)
from destination_starrocks.type_mapping import parse_type

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
