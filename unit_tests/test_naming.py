"""StarRocks names for streams and fields: safe, deterministic, collision-free, always quoted."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from destination_starrocks.naming import (
    COLUMN_NAME_MAX,
    DATABASE_NAME_MAX,
    FINAL_TABLE_NAME_MAX,
    TABLE_NAME_MAX,
    column_names,
    database_name,
    quote_identifier,
    staging_table_name,
    table_name,
    table_names,
)

STARROCKS_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
HOSTILE = [
    "x`; DROP DATABASE y; --",
    "a\"b'c",
    "semi;colon",
    "-- comment",
    "/* c */",
    "café",
    "日本語",
    "emoji 🎉",
    "a" * 300,
    "",
    " ",
    "1starts_with_digit",
    "back\\slash",
    "new\nline",
    "nul\x00byte",
]


def test_plain_names_are_kept_as_they_are():
    assert table_name("users") == "users"
    assert table_name("Users_2024") == "Users_2024"
    assert column_names(["id", "createdAt"]) == {"id": "id", "createdAt": "createdAt"}


def test_hostile_names_become_valid_starrocks_names():
    for name in HOSTILE:
        for sanitised in (table_name(name), database_name(name), column_names([name])[name]):
            assert STARROCKS_NAME.match(sanitised), (name, sanitised)


def test_unicode_is_folded_to_ascii_where_possible():
    assert table_name("café") == "cafe"
    assert table_name("naïve-name") == "naive_name"


def test_leading_digit_gets_an_underscore():
    assert table_name("1abc") == "_1abc"


def test_long_names_are_cut_to_the_limit_and_stay_apart():
    long_a, long_b = "a" * 2000 + "x", "a" * 2000 + "y"
    assert len(table_name(long_a)) <= FINAL_TABLE_NAME_MAX
    assert table_name(long_a) != table_name(long_b)
    assert len(database_name("d" * 400)) <= DATABASE_NAME_MAX
    assert len(column_names(["c" * 1500])["c" * 1500]) <= COLUMN_NAME_MAX
    assert len(staging_table_name(table_name(long_a))) <= TABLE_NAME_MAX


def test_a_300_character_name_is_kept_whole():
    assert table_name("a" * 300) == "a" * 300


def test_column_collisions_are_resolved_case_insensitively_and_deterministically():
    fields = ["Id", "id", "user-name", "user_name", "user name"]
    names = column_names(fields)
    assert len({n.lower() for n in names.values()}) == len(fields)
    # Names that needed no change win their base name.
    assert names["id"] == "id" or names["Id"] == "Id"
    assert names["user_name"] == "user_name"
    # The same answer whatever the input order.
    assert column_names(list(reversed(fields))) == names


def test_fields_named_like_airbyte_columns_do_not_take_them():
    names = column_names(["_airbyte_raw_id", "_AIRBYTE_META", "__op"])
    for original, column in names.items():
        assert column != original
        assert column.lower() not in {"_airbyte_raw_id", "_airbyte_meta", "__op"}


def test_stream_names_colliding_in_one_database_get_distinct_tables():
    names = table_names(["a-b", "a_b", "a b", "A_B"])
    assert len({n.lower() for n in names.values()}) == 4
    # Of the two unchanged originals the smaller one (in code-point order) keeps its name.
    assert names["A_B"] == "A_B"
    assert names["a_b"].startswith("a_b_")


def test_quote_identifier_doubles_backticks():
    assert quote_identifier("plain") == "`plain`"
    assert quote_identifier("x`; DROP DATABASE y; --") == "`x``; DROP DATABASE y; --`"


@given(st.lists(st.text(max_size=40), max_size=12))
def test_column_names_are_always_valid_unique_and_order_independent(fields):
    names = column_names(fields)
    assert set(names) == set(fields)
    columns = list(names.values())
    assert all(STARROCKS_NAME.match(c) for c in columns)
    assert len({c.lower() for c in columns}) == len(columns)
    assert column_names(sorted(fields, reverse=True)) == names


@given(st.text(max_size=2000))
def test_quoted_identifier_round_trips(name):
    quoted = quote_identifier(name)
    assert quoted[0] == quoted[-1] == "`"
    assert quoted[1:-1].replace("``", "`") == name
