"""Query port, DDL and DML: each test proves one StarRocks behaviour through pymysql.

Runs against the emulator, or against a real StarRocks when STARROCKS_HOST is set (see integration_tests/sql_target.py).
"""

from __future__ import annotations

import time
from decimal import Decimal

import pymysql
import pytest

from integration_tests.sql_target import SqlTarget, database_fixture, run, target_fixture, unique_name

sr = pytest.fixture(scope="module", name="sr")(target_fixture)
db = pytest.fixture(name="db")(database_fixture)


def version_counts(sr: SqlTarget, db: str, table: str) -> list[int]:
    with sr.connect(db) as conn, conn.cursor(pymysql.cursors.DictCursor) as cur:
        cur.execute(f"SHOW TABLET FROM `{db}`.`{table}`")
        return [int(row["VersionCount"]) for row in cur.fetchall()]


PK_TABLE = (
    "CREATE TABLE t (id BIGINT NOT NULL, name VARCHAR(64), amount DECIMAL(10, 2), doc JSON) "
    "PRIMARY KEY(id) DISTRIBUTED BY HASH(id) BUCKETS 2 PROPERTIES ('replication_num' = '1')"
)


def test_select_one_and_current_version_look_like_starrocks_3(sr: SqlTarget) -> None:
    assert run(sr, None, "SELECT 1") == [(1,)]
    version = run(sr, None, "SELECT current_version()")[0][0]
    assert version.split(".")[0] in ("3", "4")


def test_create_database_twice_answers_1007_and_if_not_exists_is_quiet(sr: SqlTarget, db: str) -> None:
    with pytest.raises(pymysql.err.MySQLError) as err:
        run(sr, None, f"CREATE DATABASE `{db}`")
    assert err.value.args[0] == 1007
    run(sr, None, f"CREATE DATABASE IF NOT EXISTS `{db}`")
    assert (db,) in run(sr, None, "SHOW DATABASES")


def test_ten_insert_statements_add_ten_versions(sr: SqlTarget, db: str) -> None:
    run(sr, db, PK_TABLE)
    before = version_counts(sr, db, "t")
    for i in range(10):
        run(sr, db, f"INSERT INTO t (id, name) VALUES ({i}, 'row{i}')")
    after = version_counts(sr, db, "t")
    assert len(after) == 2
    assert [a - b for a, b in zip(after, before, strict=True)] == [10, 10]
    assert run(sr, db, "SELECT count(*) FROM t") == [(10,)]


def test_multi_row_insert_is_one_version(sr: SqlTarget, db: str) -> None:
    run(sr, db, PK_TABLE)
    before = version_counts(sr, db, "t")
    run(sr, db, "INSERT INTO t (id, name) VALUES (1, 'a'), (2, 'b'), (3, 'c')")
    assert [a - b for a, b in zip(version_counts(sr, db, "t"), before, strict=True)] == [1, 1]


def test_select_filters_aggregates_orders_and_limits(sr: SqlTarget, db: str) -> None:
    run(sr, db, PK_TABLE)
    run(
        sr,
        db,
        "INSERT INTO t (id, name, amount) VALUES (1, 'a', 1.50), (2, 'b', 2.25), (3, 'b', 4.00), (4, NULL, NULL)",
    )
    assert run(
        sr, db, "SELECT name, count(*), sum(amount) FROM t WHERE id > 1 AND name IS NOT NULL GROUP BY name"
    ) == [("b", 2, Decimal("6.25"))]
    assert run(sr, db, "SELECT id FROM t ORDER BY id DESC LIMIT 2") == [(4,), (3,)]


def test_primary_key_insert_upserts_by_key(sr: SqlTarget, db: str) -> None:
    run(sr, db, PK_TABLE)
    run(sr, db, "INSERT INTO t (id, name) VALUES (1, 'old')", "INSERT INTO t (id, name) VALUES (1, 'new')")
    assert run(sr, db, "SELECT id, name FROM t") == [(1, "new")]


def test_json_functions_used_by_the_tests(sr: SqlTarget, db: str) -> None:
    run(sr, db, PK_TABLE)
    run(sr, db, """INSERT INTO t (id, doc) VALUES (1, parse_json('{"s": "text", "n": 42, "o": {"k": 1}}'))""")
    row = run(
        sr, db,
        "SELECT get_json_string(doc, '$.s'), get_json_int(doc, '$.n'), json_query(doc, '$.o.k'), "
        "doc->'$.n', get_json_string(doc, '$.missing') FROM t",
    )[0]  # fmt: skip
    assert row[0] == "text"
    assert row[1] == 42
    assert str(row[2]) == "1"
    assert str(row[3]) == "42"
    assert row[4] is None


def test_cast_string_to_json_is_queryable(sr: SqlTarget, db: str) -> None:
    run(sr, db, PK_TABLE)
    run(sr, db, """INSERT INTO t (id, doc) VALUES (1, CAST('{"a": [1, 2]}' AS JSON))""")
    assert run(sr, db, "SELECT get_json_int(doc, '$.a[1]') FROM t") == [(2,)]


def test_delete_on_primary_key_table_removes_rows_in_one_version(sr: SqlTarget, db: str) -> None:
    run(sr, db, PK_TABLE)
    run(sr, db, "INSERT INTO t (id, name) VALUES (1, 'a'), (2, 'b'), (3, 'c')")
    before = version_counts(sr, db, "t")
    run(sr, db, "DELETE FROM t WHERE id >= 2")
    assert run(sr, db, "SELECT id FROM t") == [(1,)]
    assert [a - b for a, b in zip(version_counts(sr, db, "t"), before, strict=True)] == [1, 1]


def test_insert_select_copies_rows(sr: SqlTarget, db: str) -> None:
    run(
        sr,
        db,
        PK_TABLE,
        "CREATE TABLE copy (id BIGINT, name VARCHAR(64)) DUPLICATE KEY(id) DISTRIBUTED BY RANDOM",
    )
    run(sr, db, "INSERT INTO t (id, name) VALUES (1, 'a'), (2, 'b')")
    run(sr, db, "INSERT INTO copy SELECT id, name FROM t WHERE id = 2")
    assert run(sr, db, "SELECT id, name FROM copy") == [(2, "b")]


def test_join_across_two_tables(sr: SqlTarget, db: str) -> None:
    run(
        sr,
        db,
        PK_TABLE,
        "CREATE TABLE tags (id BIGINT, tag VARCHAR(10)) DUPLICATE KEY(id) DISTRIBUTED BY RANDOM",
    )
    run(sr, db, "INSERT INTO t (id, name) VALUES (1, 'a'), (2, 'b')", "INSERT INTO tags VALUES (2, 'x')")
    assert run(sr, db, "SELECT t.name, g.tag FROM t JOIN tags g ON t.id = g.id") == [("b", "x")]


def test_truncate_empties_the_table(sr: SqlTarget, db: str) -> None:
    run(sr, db, PK_TABLE, "INSERT INTO t (id) VALUES (1), (2)", "TRUNCATE TABLE t")
    assert run(sr, db, "SELECT count(*) FROM t") == [(0,)]


def test_alter_table_add_and_drop_column(sr: SqlTarget, db: str) -> None:
    run(sr, db, PK_TABLE, "INSERT INTO t (id) VALUES (1)")
    run(sr, db, "ALTER TABLE t ADD COLUMN extra INT DEFAULT '7'")
    assert run(sr, db, "SELECT extra FROM t") == [(7,)]
    run(sr, db, "ALTER TABLE t DROP COLUMN extra")
    assert "extra" not in [r[0] for r in run(sr, db, "DESC t")]


def test_rename_and_swap_tables(sr: SqlTarget, db: str) -> None:
    run(sr, db, PK_TABLE, "CREATE TABLE staging (id BIGINT NOT NULL, name VARCHAR(64), amount DECIMAL(10, 2), "
        "doc JSON) PRIMARY KEY(id) DISTRIBUTED BY HASH(id) BUCKETS 2")  # fmt: skip
    run(
        sr,
        db,
        "INSERT INTO t (id, name) VALUES (1, 'live')",
        "INSERT INTO staging (id, name) VALUES (2, 'fresh')",
    )
    run(sr, db, "ALTER TABLE t SWAP WITH staging")
    assert run(sr, db, "SELECT name FROM t") == [("fresh",)]
    assert run(sr, db, "SELECT name FROM staging") == [("live",)]
    run(sr, db, "ALTER TABLE staging RENAME old_live")
    assert sorted(r[0] for r in run(sr, db, "SHOW TABLES")) == ["old_live", "t"]


def test_drop_table_if_exists_is_quiet_and_drop_table_removes_it(sr: SqlTarget, db: str) -> None:
    run(sr, db, PK_TABLE, "DROP TABLE t", "DROP TABLE IF EXISTS t")
    assert run(sr, db, "SHOW TABLES") == []


def test_unknown_table_answers_starrocks_unknown_table_error(sr: SqlTarget, db: str) -> None:
    with pytest.raises(pymysql.err.MySQLError) as err:
        run(sr, db, "SELECT * FROM no_such_table")
    code, message = err.value.args
    assert code in (5502, 1064)  # 5502 since the 3.3 error-code review; older 3.x answered 1064
    assert f"Unknown table '{db}.no_such_table'" in message


def test_bad_sql_answers_1064_syntax_error(sr: SqlTarget) -> None:
    with pytest.raises(pymysql.err.MySQLError) as err:
        run(sr, None, "SELEC 1")
    code, message = err.value.args
    assert code == 1064
    assert message.startswith("Getting syntax error")


def wait_for_schema_change(sr: SqlTarget, db: str, table: str, timeout: float = 120) -> dict:
    """The table's latest job in SHOW ALTER TABLE COLUMN once it is FINISHED or CANCELLED."""
    deadline = time.monotonic() + timeout
    while True:
        with sr.connect(db) as conn, conn.cursor(pymysql.cursors.DictCursor) as cur:
            cur.execute(
                f"SHOW ALTER TABLE COLUMN FROM `{db}` WHERE TableName = '{table}' ORDER BY CreateTime DESC LIMIT 1"
            )
            job = cur.fetchone()
        if job and job["State"] in ("FINISHED", "CANCELLED"):
            return job
        assert time.monotonic() < deadline, f"schema change of {table} still {job}"
        time.sleep(0.2)


def test_modify_column_widens_a_varchar_when_its_job_finishes(sr: SqlTarget, db: str) -> None:
    run(sr, db, PK_TABLE, "INSERT INTO t (id, name) VALUES (1, 'short')")
    run(sr, db, "ALTER TABLE t MODIFY COLUMN name VARCHAR(200)")
    assert wait_for_schema_change(sr, db, "t")["State"] == "FINISHED"
    assert {r[0]: r[1] for r in run(sr, db, "DESC t")}["name"].upper() == "VARCHAR(200)"
    assert run(sr, db, "SELECT name FROM t") == [("short",)]


def test_use_unknown_database_answers_unknown_database(sr: SqlTarget) -> None:
    with pytest.raises(pymysql.err.MySQLError) as err:
        run(sr, None, f"USE `{unique_name('missing')}`")
    assert "Unknown database" in err.value.args[1]


def test_expression_columns_are_labelled_with_their_starrocks_text(sr: SqlTarget, db: str) -> None:
    run(sr, db, PK_TABLE, "INSERT INTO t (id, doc) VALUES (1, parse_json('{\"n\": 1}'))")
    with sr.connect(db) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*), get_json_int(doc, '$.n') FROM t GROUP BY doc")
        labels = [d[0] for d in cur.description]
    assert labels[0] == "count(*)"
    assert labels[1].startswith("get_json_int(")


@pytest.mark.parametrize(
    "old_type, new_type, value, expected",
    [
        ("BIGINT", "DOUBLE", "7", 7.0),
        ("DOUBLE", "VARCHAR(100)", "2.5", "2.5"),
        ("DATE", "DATETIME", "'2024-01-02'", "2024-01-02 00:00:00"),
    ],
)
def test_modify_column_allows_the_documented_widenings(
    sr: SqlTarget, db: str, old_type, new_type, value, expected
) -> None:
    # StarRocks ALTER TABLE, "Modify the column type": these conversions keep every value.
    run(
        sr,
        db,
        f"CREATE TABLE w (id BIGINT NOT NULL, c {old_type}) DUPLICATE KEY(id) DISTRIBUTED BY HASH(id) BUCKETS 1 PROPERTIES ('replication_num' = '1')",
    )
    run(sr, db, f"INSERT INTO w VALUES (1, {value})")
    run(sr, db, f"ALTER TABLE w MODIFY COLUMN c {new_type}")
    assert wait_for_schema_change(sr, db, "w")["State"] == "FINISHED"
    assert {r[0]: r[1] for r in run(sr, db, "DESC w")}["c"].upper() == new_type
    rows = run(sr, db, "SELECT c FROM w")
    assert str(rows[0][0]) == str(expected)
