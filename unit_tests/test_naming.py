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
    resolve_names,
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


# --- StarRocks' rules (issue 12) and Airbyte's character rule (issue 13) -----------------------------------

DB_NAME_REGEX = re.compile(r"^[a-zA-Z]\w{0,255}$|^_[a-zA-Z0-9]\w{0,254}$", re.ASCII)  # fe FeNameFormat


def test_database_names_match_starrocks_db_name_regex():
    # Each of these was refused by StarRocks at CREATE DATABASE before (`_`, `__x`, `__sales`, `______`).
    for namespace in ("_", "__x", "--sales", "данные", "日本", "_1", "9lives", "a" * 300, "_" * 300, "é"):
        name = database_name(namespace)
        assert DB_NAME_REGEX.match(name), (namespace, name)
    assert database_name("__x") == "db__x" and database_name("--sales") == "db__sales"
    assert database_name("_") == "db_"
    assert database_name("данные") != database_name("модели")  # all-Cyrillic names stay apart


def test_names_that_were_valid_stay_exactly_as_they_were():
    for name in ("airbyte", "_airbyte", "Sales_2024", "a" * 256, "_x1"):
        assert database_name(name) == name
    for name in ("users", "__x", "_", "Users_2024", "a" * 1000):
        assert table_name(name) == name and column_names([name])[name] == name


def test_every_character_outside_the_rules_becomes_an_underscore_after_normalisation():
    assert table_name("spøcial") == "sp_cial"  # before: "spcial"
    assert column_names(["søn", "sn"]) == {"søn": "s_n", "sn": "sn"}  # before: both "sn"
    composed, decomposed = "caf\u00e9", "cafe\u0301"
    assert table_name(composed) == table_name(decomposed) == "cafe"
    assert column_names([composed])[composed] == column_names([decomposed])[decomposed] == "cafe"
    assert table_name("ﬁle Ａ") == "file_A"  # compatibility forms fold (NFKD)


def test_names_left_without_a_letter_or_digit_get_a_hash_so_they_never_meet():
    assert table_name("日本") != table_name("中文")
    assert table_name("日本").startswith("__") and len(table_name("日本")) == 2 + 1 + 8


def test_reserved_column_names_are_never_created():
    fields = ["__op", "__OP", "__row", "___count___", "__starrocks_shadow_x", "__generated_partition_column_y",
              "_airbyte_pk", "_airbyte_rank_updated", "_airbyte_meta"]  # fmt: skip
    names = column_names(fields)
    reserved = {"__op", "__row", "___count___", "_airbyte_pk", "_airbyte_meta"}
    prefixes = ("__starrocks_shadow_", "__generated_partition_column_", "_airbyte_rank_")
    for field, column in names.items():
        assert column.lower() not in reserved and not column.lower().startswith(prefixes), (field, column)
    assert len({c.lower() for c in names.values()}) == len(fields)


def test_colliding_stream_names_resolve_the_same_whatever_the_catalog_order():
    items = [(("a", "x-y"), "x-y"), ((None, "x y"), "x y"), (("b", "x_y"), "x_y"), (("c", "x_y"), "x_y")]
    first = resolve_names(items, table_name, FINAL_TABLE_NAME_MAX)
    assert resolve_names(list(reversed(items)), table_name, FINAL_TABLE_NAME_MAX) == first
    assert len({n.lower() for n in first.values()}) == len(items)
    # The name that needed no change keeps it; of two equal names, the smaller stream id.
    assert first[("b", "x_y")] == "x_y"


@given(st.text(max_size=30), st.text(max_size=30))
def test_two_different_names_never_land_in_one_column(a, b):
    names = column_names([a, b])
    assert (names[a].lower() == names[b].lower()) is (a == b)


@given(st.text(max_size=60))
def test_every_database_name_is_valid(namespace):
    assert DB_NAME_REGEX.match(database_name(namespace))
