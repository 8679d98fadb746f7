"""DDL rules of StarRocks' FE analyzer, each answered with StarRocks' own words (starrocks_emulator/sql/analyzer.py).

Runs against the emulator, or against a real StarRocks when STARROCKS_HOST is set (integration_tests/sql_target.py):
names (FeNameFormat), Primary Key column types and nullability (KeysDesc), key order, duplicate column names.
"""

from __future__ import annotations

import pymysql
import pytest

from integration_tests.sql_target import SqlTarget, database_fixture, run, target_fixture, unique_name

sr = pytest.fixture(scope="module", name="sr")(target_fixture)
db = pytest.fixture(name="db")(database_fixture)

PROPS = "PROPERTIES ('replication_num' = '1')"


def refused(sr: SqlTarget, db: str | None, sql: str) -> tuple[int, str]:
    with pytest.raises(pymysql.err.MySQLError) as err:
        run(sr, db, sql)
    return err.value.args[0], err.value.args[1]


@pytest.mark.parametrize("name", ["данные", "--sales", "_", "__x", "9lives", "a" * 257, "sales.eu"])
def test_database_names_outside_db_name_regex_are_refused(sr: SqlTarget, name: str) -> None:
    # FeNameFormat.DB_NAME_REGEX "^[a-zA-Z]\w{0,255}$|^_[a-zA-Z0-9]\w{0,254}$", ErrorCode.ERR_WRONG_DB_NAME
    code, message = refused(sr, None, f"CREATE DATABASE `{name}`")
    assert code == 1102
    assert f"Incorrect database name '{name}'" in message


@pytest.mark.parametrize("name", ["airbyte_raw", "A1", "_1st", "_x_y", "a" * 256])
def test_database_names_inside_db_name_regex_are_created(sr: SqlTarget, name: str) -> None:
    name = name if len(name) > 200 else f"{name}_{unique_name('n')}"
    try:
        run(sr, None, f"CREATE DATABASE `{name}`")
        assert (name,) in run(sr, None, "SHOW DATABASES")
    finally:
        run(sr, None, f"DROP DATABASE IF EXISTS `{name}` FORCE")


def test_table_name_over_1024_characters_is_refused(sr: SqlTarget, db: str) -> None:
    name = "t" * 1025
    code, message = refused(sr, db, f"CREATE TABLE `{name}` (id BIGINT) DUPLICATE KEY(id) {PROPS}")
    assert code == 1104
    assert "Incorrect table name" in message
    run(sr, db, f"CREATE TABLE `{'t' * 1024}` (id BIGINT) DUPLICATE KEY(id) {PROPS}")
    code, _ = refused(sr, db, f"ALTER TABLE `{'t' * 1024}` RENAME `{name}`")
    assert code == 1104


@pytest.mark.parametrize(
    "column, fragment",
    [
        ("__op", "Column name [__op] is a system reserved name"),
        ("__ROW", "Column name [__ROW] is a system reserved name"),
        ("___count___", "Column name [___count___] is a system reserved name"),
        ("__generated_partition_column_0", "starts with __generated_partition_column_"),
        ("__starrocks_shadow_v", "Incorrect column name '__starrocks_shadow_v'"),
        ("a=b", "Incorrect column name 'a=b'"),
        ("x" * 1025, "Incorrect column name"),
    ],
)
def test_reserved_and_malformed_column_names_are_refused_at_create_and_add_column(
    sr: SqlTarget, db: str, column: str, fragment: str
) -> None:
    _, message = refused(sr, db, f"CREATE TABLE t (id BIGINT, `{column}` INT) DUPLICATE KEY(id) {PROPS}")
    assert fragment in message
    run(sr, db, f"CREATE TABLE ok (id BIGINT, v INT) DUPLICATE KEY(id) {PROPS}")
    _, message = refused(sr, db, f"ALTER TABLE ok ADD COLUMN `{column}` INT NULL")
    assert fragment in message


def test_column_names_differing_only_in_case_are_duplicates(sr: SqlTarget, db: str) -> None:
    code, message = refused(
        sr, db, f"CREATE TABLE t (id BIGINT, Name INT, NAME INT) DUPLICATE KEY(id) {PROPS}"
    )
    assert code == 1060
    assert "Duplicate column name 'NAME'" in message
    run(sr, db, f"CREATE TABLE ok (id BIGINT, Name INT) DUPLICATE KEY(id) {PROPS}")
    code, _ = refused(sr, db, "ALTER TABLE ok ADD COLUMN nAmE INT NULL")
    assert code == 1060


@pytest.mark.parametrize("key_type", ["DECIMAL(38,9)", "DOUBLE", "FLOAT", "JSON", "CHAR(10)"])
def test_primary_key_column_types_outside_the_allowed_set_are_refused(
    sr: SqlTarget, db: str, key_type: str
) -> None:
    # KeysDesc: BOOLEAN, integer types, LARGEINT, VARCHAR, DATE, DATETIME only
    _, message = refused(
        sr,
        db,
        f"CREATE TABLE t (id {key_type} NOT NULL, v INT) PRIMARY KEY(id) DISTRIBUTED BY HASH(id) {PROPS}",
    )
    assert (
        "primary key column[id] type not supported" in message or "Invalid data type of key column" in message
    )


@pytest.mark.parametrize(
    "key_type", ["BOOLEAN", "TINYINT", "SMALLINT", "INT", "BIGINT", "LARGEINT", "VARCHAR(64)", "STRING", "DATE",
                 "DATETIME"],
)  # fmt: skip
def test_primary_key_column_types_in_the_allowed_set_are_created(
    sr: SqlTarget, db: str, key_type: str
) -> None:
    run(
        sr,
        db,
        f"CREATE TABLE t (id {key_type} NOT NULL, v INT) PRIMARY KEY(id) DISTRIBUTED BY HASH(id) {PROPS}",
    )
    assert [r[0] for r in run(sr, db, "SHOW TABLES")] == ["t"]


def test_primary_key_column_written_null_is_refused_and_left_unmarked_becomes_not_null(
    sr: SqlTarget, db: str
) -> None:
    _, message = refused(
        sr, db, f"CREATE TABLE t (id BIGINT NULL, v INT) PRIMARY KEY(id) DISTRIBUTED BY HASH(id) {PROPS}"
    )
    assert "primary key column[id] cannot be nullable" in message
    run(sr, db, f"CREATE TABLE t (id BIGINT, v INT) PRIMARY KEY(id) DISTRIBUTED BY HASH(id) {PROPS}")
    assert {r[0]: r[2] for r in run(sr, db, "DESC t")}["id"].upper() == "NO"


def test_key_columns_must_be_an_ordered_prefix_of_the_schema(sr: SqlTarget, db: str) -> None:
    _, message = refused(
        sr, db, f"CREATE TABLE t (v INT, id BIGINT NOT NULL) PRIMARY KEY(id) DISTRIBUTED BY HASH(id) {PROPS}"
    )
    assert "Key columns must be the first few columns of the schema" in message
    _, message = refused(sr, db, f"CREATE TABLE t (a INT, b INT, c INT) DUPLICATE KEY(b, a) {PROPS}")
    assert "Key columns must be the first few columns of the schema" in message


def test_duplicate_key_on_a_double_column_is_refused_with_the_decimal_hint(sr: SqlTarget, db: str) -> None:
    _, message = refused(sr, db, f"CREATE TABLE t (x DOUBLE, v INT) DUPLICATE KEY(x) {PROPS}")
    assert "Invalid data type of key column 'x'" in message
    assert "use decimal instead" in message
