"""What the connector's table copies rely on in StarRocks SQL: CAST never fails a statement, and an INSERT with
a label runs once.

Runs against the emulator, or against a real StarRocks when STARROCKS_HOST is set (integration_tests/sql_target.py).
The CAST results are be/src/exprs/cast_expr.cpp's (see starrocks_emulator/sql/casts.py), the label rules
fe `DatabaseTransactionMgr.beginTransaction`'s and StarRocks' own test test/sql/test_insert_empty/T/test_insert_label.
"""

from __future__ import annotations

import datetime as dt

import pymysql
import pytest

from integration_tests.sql_target import database_fixture, run, target_fixture

sr = pytest.fixture(scope="module", name="sr")(target_fixture)
db = pytest.fixture(name="db")(database_fixture)

DUP_TABLE = (
    "CREATE TABLE t (k1 INT, k2 VARCHAR(100)) DUPLICATE KEY(k1) DISTRIBUTED BY HASH(k1) BUCKETS 1 "
    "PROPERTIES ('replication_num' = '1')"
)


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        # to integers: only whitespace, a sign and digits convert (StringParser::string_to_int); the rest is NULL
        ("CAST('x' AS BIGINT)", None),
        ("CAST(' 12 ' AS BIGINT)", 12),
        ("CAST('+7' AS INT)", 7),
        ("CAST('1.5' AS BIGINT)", None),
        ("CAST('1e3' AS BIGINT)", None),
        ("CAST('' AS BIGINT)", None),
        ("CAST('99999999999999999999' AS BIGINT)", None),  # overflow
        ("CAST('170141183460469231731687303715884105727' AS LARGEINT)", 2**127 - 1),
        ("CAST(CAST(1.7 AS DOUBLE) AS BIGINT)", 1),  # truncated toward zero, not rounded
        ("CAST(CAST(-1.7 AS DOUBLE) AS BIGINT)", -1),
        ("CAST(CAST(1e30 AS DOUBLE) AS BIGINT)", None),  # out of range
        ("CAST(CAST('2024-01-05' AS DATE) AS BIGINT)", 20240105),
        # to DOUBLE: NaN and infinities are NULL
        ("CAST('2.5e1' AS DOUBLE)", 25.0),
        ("CAST('nan' AS DOUBLE)", None),
        ("CAST('abc' AS DOUBLE)", None),
        # to BOOLEAN: an integer is != 0, else true/false in any case
        ("CAST('2' AS BOOLEAN)", 1),
        ("CAST('0' AS BOOLEAN)", 0),
        ("CAST(' TRUE ' AS BOOLEAN)", 1),
        ("CAST('yes' AS BOOLEAN)", None),
        # to DATETIME / DATE: what does not parse is NULL
        ("CAST('not a time' AS DATETIME)", None),
        ("CAST('2024-01-05 10:00:00' AS DATETIME)", dt.datetime(2024, 1, 5, 10)),
        ("COALESCE(CAST('x' AS DATE), CAST('1970-01-01' AS DATE))", dt.date(1970, 1, 1)),
    ],
)
def test_a_cast_that_does_not_convert_gives_null_as_in_starrocks(sr, expression, expected):
    assert run(sr, None, f"SELECT {expression}") == [(expected,)]


def test_a_string_cast_to_json_is_parsed_only_when_it_looks_like_json(sr):
    """be/src/util/json.cpp parse_json_or_string: '{', '[', '"' or a digit first is parsed, else a JSON string."""
    rows = run(sr, None, "SELECT CAST('abc' AS JSON), CAST('{\"a\": 1}' AS JSON), CAST('{bad' AS JSON)")
    text, obj, bad = rows[0]
    assert text == '"abc"' and obj.replace(" ", "") == '{"a":1}' and bad is None


def test_an_uncastable_value_in_an_insert_select_is_null_not_an_error(sr, db):
    run(sr, db, DUP_TABLE, "INSERT INTO t VALUES (1, 'x'), (2, '7')")
    run(
        sr, db, "CREATE TABLE u (k BIGINT NOT NULL, v BIGINT) PRIMARY KEY(k) DISTRIBUTED BY HASH(k) BUCKETS 1 "
        "PROPERTIES ('replication_num' = '1')",
        "INSERT INTO u (k, v) SELECT k1, COALESCE(CAST(k2 AS BIGINT), 0) FROM t",
    )  # fmt: skip
    assert run(sr, db, "SELECT k, v FROM u ORDER BY k") == [(1, 0), (2, 7)]


def test_an_insert_with_a_label_runs_once(sr, db):
    """A label a committed INSERT holds refuses the same INSERT again, before it loads anything."""
    run(sr, db, DUP_TABLE)
    run(sr, db, "INSERT INTO t WITH LABEL `copy-1_a` (k1, k2) SELECT 1, 'a'")
    with pytest.raises(pymysql.err.MySQLError) as refused:
        run(sr, db, "INSERT INTO t WITH LABEL `copy-1_a` (k1, k2) SELECT 1, 'a'")
    assert "Label [copy-1_a] has already been used." in str(refused.value.args[1])
    assert refused.value.args[0] == 1064
    # INSERT OVERWRITE with a used label is refused before it clears anything
    with pytest.raises(pymysql.err.MySQLError):
        run(sr, db, "INSERT OVERWRITE t WITH LABEL `copy-1_a` SELECT 2, 'b'")
    assert run(sr, db, "SELECT k1, k2 FROM t") == [(1, "a")]
    # a plain identifier works too; another label is another job
    run(sr, db, "insert into t with label copy2 values (3, 'c')")
    assert sorted(run(sr, db, "SELECT k1 FROM t")) == [(1,), (3,)]


def test_the_label_of_a_failed_insert_can_be_used_again(sr, db):
    run(
        sr, db, "CREATE TABLE n (k BIGINT NOT NULL, v BIGINT NOT NULL) DUPLICATE KEY(k) DISTRIBUTED BY HASH(k) "
        "BUCKETS 1 PROPERTIES ('replication_num' = '1')",
    )  # fmt: skip
    with pytest.raises(
        pymysql.err.MySQLError
    ):  # NULL into a NOT NULL column: strict INSERT fails, txn aborted
        run(sr, db, "INSERT INTO n WITH LABEL retry_me SELECT 1, CAST(NULL AS BIGINT)")
    run(sr, db, "INSERT INTO n WITH LABEL retry_me SELECT 1, 2")
    assert run(sr, db, "SELECT k, v FROM n") == [(1, 2)]
    jobs = run(
        sr, None, f"SELECT STATE FROM information_schema.loads WHERE DB_NAME = '{db}' AND LABEL = 'retry_me'"
    )
    assert sorted(state for (state,) in jobs) == ["CANCELLED", "FINISHED"]


def test_a_label_must_follow_starrocks_label_rules(sr, db):
    run(sr, db, DUP_TABLE)
    with pytest.raises(pymysql.err.MySQLError) as refused:
        run(sr, db, "INSERT INTO t WITH LABEL `bad label` SELECT 1, 'a'")
    assert "Label format error" in str(refused.value.args[1])
    assert run(sr, db, "SELECT COUNT(*) FROM t") == [(0,)]
