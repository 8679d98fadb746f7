"""Query port, metadata: SHOW / DESC / information_schema answer in StarRocks' shapes.

Runs against the emulator, or against a real StarRocks when STARROCKS_HOST is set (see integration_tests/sql_target.py).
"""

from __future__ import annotations

from collections.abc import Iterator

import pymysql
import pytest

from integration_tests.sql_target import SqlTarget, target_fixture, unique_name

sr = pytest.fixture(scope="module", name="sr")(target_fixture)

PK_TABLE = (
    "CREATE TABLE orders (id BIGINT NOT NULL COMMENT 'order id', customer VARCHAR(100) NOT NULL, "
    "total DECIMAL(38, 9) NULL DEFAULT '0', big LARGEINT, flag BOOLEAN, born DATE, seen DATETIME, note STRING, "
    "doc JSON COMMENT 'raw') PRIMARY KEY(id) COMMENT 'orders table' DISTRIBUTED BY HASH(id) BUCKETS 3 "
    "PROPERTIES ('replication_num' = '1')"
)


@pytest.fixture(scope="module")
def db(sr: SqlTarget) -> Iterator[str]:
    name = unique_name("sqlmeta")
    with sr.connect() as conn, conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE `{name}`")
        cur.execute(f"USE `{name}`")
        cur.execute(PK_TABLE)
        cur.execute("INSERT INTO orders (id, customer) VALUES (1, 'ann'), (2, 'bob')")
    yield name
    with sr.connect() as conn:
        conn.cursor().execute(f"DROP DATABASE IF EXISTS `{name}` FORCE")


def dict_rows(sr: SqlTarget, db: str | None, sql: str, *args: object) -> list[dict]:
    with sr.connect(db) as conn, conn.cursor(pymysql.cursors.DictCursor) as cur:
        cur.execute(sql, args or None)
        return list(cur.fetchall())


def test_show_create_table_round_trips_a_primary_key_table(sr: SqlTarget, db: str) -> None:
    ddl = dict_rows(sr, db, "SHOW CREATE TABLE orders")[0]["Create Table"]
    assert "PRIMARY KEY(`id`)" in ddl
    assert "DISTRIBUTED BY HASH(`id`) BUCKETS 3" in ddl
    with sr.connect(db) as conn, conn.cursor() as cur:
        cur.execute(ddl.replace("CREATE TABLE `orders`", "CREATE TABLE `orders_copy`", 1))
    try:
        copy_ddl = dict_rows(sr, db, "SHOW CREATE TABLE orders_copy")[0]["Create Table"]
        assert copy_ddl.replace("`orders_copy`", "`orders`", 1) == ddl
        assert dict_rows(sr, db, "DESC orders_copy") == dict_rows(sr, db, "DESC orders")
    finally:
        with sr.connect(db) as conn:
            conn.cursor().execute("DROP TABLE IF EXISTS orders_copy")


def test_desc_shows_starrocks_types_nullability_and_keys(sr: SqlTarget, db: str) -> None:
    rows = {r["Field"]: r for r in dict_rows(sr, db, "DESC orders")}
    assert list(dict_rows(sr, db, "DESC orders")[0]) == ["Field", "Type", "Null", "Key", "Default", "Extra"]
    assert (
        rows["id"]["Type"].upper() == "BIGINT" and rows["id"]["Null"] == "NO" and rows["id"]["Key"] == "true"
    )
    assert rows["customer"]["Type"].upper() == "VARCHAR(100)" and rows["customer"]["Key"] == "false"
    assert rows["total"]["Type"].upper().replace(" ", "") in ("DECIMAL(38,9)", "DECIMAL128(38,9)")
    assert rows["total"]["Default"] == "0"
    assert rows["big"]["Type"].upper() == "LARGEINT"
    assert rows["note"]["Type"].upper() == "VARCHAR(65533)"
    assert rows["doc"]["Type"].upper() == "JSON"
    assert rows["seen"]["Type"].upper() == "DATETIME"


def test_show_tablet_lists_one_row_per_bucket_with_version_columns(sr: SqlTarget, db: str) -> None:
    rows = dict_rows(sr, db, f"SHOW TABLET FROM `{db}`.orders")
    assert len(rows) == 3
    for column in (
        "TabletId",
        "ReplicaId",
        "BackendId",
        "Version",
        "RowCount",
        "VersionCount",
        "DataSize",
        "State",
    ):
        assert column in rows[0]
    assert sum(int(r["RowCount"]) for r in rows) == 2


def test_show_databases_and_tables(sr: SqlTarget, db: str) -> None:
    assert {"Database": db} in dict_rows(sr, None, "SHOW DATABASES")
    assert dict_rows(sr, db, "SHOW TABLES LIKE 'ord%'") == [{f"Tables_in_{db}": "orders"}]
    assert {f"Tables_in_{db}": "orders", "Table_type": "BASE TABLE"} in dict_rows(sr, db, "SHOW FULL TABLES")


def test_show_full_columns_has_mysql_columns_and_comments(sr: SqlTarget, db: str) -> None:
    rows = dict_rows(sr, db, "SHOW FULL COLUMNS FROM orders")
    assert list(rows[0]) == [
        "Field",
        "Type",
        "Collation",
        "Null",
        "Key",
        "Default",
        "Extra",
        "Privileges",
        "Comment",
    ]
    assert {r["Field"]: r["Comment"] for r in rows}["doc"] == "raw"


def test_information_schema_tables_and_columns_describe_the_table(sr: SqlTarget, db: str) -> None:
    tables = dict_rows(sr, None, "SELECT * FROM information_schema.tables WHERE table_schema = %s", db)
    assert [(t["TABLE_NAME"], t["TABLE_TYPE"]) for t in tables] == [("orders", "BASE TABLE")]
    columns = dict_rows(
        sr, None,
        "SELECT COLUMN_NAME, ORDINAL_POSITION, IS_NULLABLE, DATA_TYPE, COLUMN_TYPE, COLUMN_KEY "
        "FROM information_schema.columns WHERE table_schema = %s AND table_name = 'orders' ORDER BY ORDINAL_POSITION",
        db,
    )  # fmt: skip
    assert [c["COLUMN_NAME"] for c in columns][:3] == ["id", "customer", "total"]
    assert columns[0]["COLUMN_KEY"] == "PRI" and columns[0]["IS_NULLABLE"] == "NO"
    assert columns[1]["DATA_TYPE"] == "varchar" and columns[1]["COLUMN_TYPE"] == "varchar(100)"


def test_information_schema_tables_config_names_the_model_and_keys(sr: SqlTarget, db: str) -> None:
    row = dict_rows(sr, None, "SELECT * FROM information_schema.tables_config WHERE table_schema = %s", db)[0]
    assert row["TABLE_MODEL"] == "PRIMARY_KEYS"
    assert row["PRIMARY_KEY"] == "`id`"
    assert row["DISTRIBUTE_KEY"] == "`id`" and int(row["DISTRIBUTE_BUCKET"]) == 3


def test_tables_config_table_id_follows_the_table_through_swap_and_rename(sr: SqlTarget) -> None:
    # InformationSchemaDataSource.genNormalTableConfigInfo: setTable_id(table.getId())
    name = unique_name("tblid")
    sql = "SELECT TABLE_NAME, TABLE_ID FROM information_schema.tables_config WHERE TABLE_SCHEMA = %s"
    with sr.connect() as conn, conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE `{name}`")
        try:
            for table in ("a", "b"):
                cur.execute(
                    f"CREATE TABLE `{name}`.{table} (id BIGINT) DUPLICATE KEY(id) PROPERTIES ('replication_num' = '1')"
                )
            before = {r["TABLE_NAME"]: r["TABLE_ID"] for r in dict_rows(sr, None, sql, name)}
            assert before["a"] and before["b"] and before["a"] != before["b"]
            cur.execute(f"ALTER TABLE `{name}`.a SWAP WITH b")
            cur.execute(f"ALTER TABLE `{name}`.b RENAME c")
            after = {r["TABLE_NAME"]: r["TABLE_ID"] for r in dict_rows(sr, None, sql, name)}
            assert after == {"a": before["b"], "c": before["a"]}
        finally:
            cur.execute(f"DROP DATABASE `{name}` FORCE")


def test_information_schema_loads_lists_insert_jobs(sr: SqlTarget, db: str) -> None:
    rows = dict_rows(sr, None, "SELECT * FROM information_schema.loads WHERE TABLE_NAME = 'orders'")
    assert rows and {"LABEL", "STATE", "TYPE", "SINK_ROWS", "FILTERED_ROWS", "ERROR_MSG"} <= set(rows[0])
    assert any(r["TYPE"] == "INSERT" and r["STATE"] == "FINISHED" and int(r["SINK_ROWS"]) == 2 for r in rows)


def test_show_variables_like_and_version_comment(sr: SqlTarget) -> None:
    rows = dict_rows(sr, None, "SHOW VARIABLES LIKE 'version_comment'")
    assert rows[0]["Variable_name"] == "version_comment" and "StarRocks" in rows[0]["Value"]
    assert "StarRocks" in dict_rows(sr, None, "SELECT @@version_comment AS c")[0]["c"]


def test_set_session_variable_is_read_back(sr: SqlTarget) -> None:
    with sr.connect() as conn, conn.cursor() as cur:
        cur.execute("SET query_timeout = 123")
        cur.execute("SELECT @@query_timeout")
        assert int(cur.fetchone()[0]) == 123
