"""Schema change is a job (starrocks_emulator/storage/alter_jobs.py, schema_change.py): asynchronous, one per table
at a time, visible in SHOW ALTER TABLE COLUMN, FINISHED or CANCELLED; ADD/DROP COLUMN are instant under fast schema
evolution. Runs against a real StarRocks too (STARROCKS_HOST), except where it sets the emulator's scheduler.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pymysql
import pytest

from integration_tests.sql_target import SqlTarget, database_fixture, run, target_fixture
from integration_tests.test_emulator_sql_statements import wait_for_schema_change

sr = pytest.fixture(scope="module", name="sr")(target_fixture)
db = pytest.fixture(name="db")(database_fixture)

# fe common/proc/SchemaChangeProcDir.TITLE_NAMES (shared-nothing)
TITLE_NAMES = [
    "JobId", "TableName", "CreateTime", "FinishTime", "IndexName", "IndexId", "OriginIndexId", "SchemaVersion",
    "TransactionId", "State", "Msg", "Progress", "Timeout",
]  # fmt: skip
TABLE = (
    "CREATE TABLE {name} (id BIGINT NOT NULL, v VARCHAR(64), n BIGINT) DUPLICATE KEY(id) "
    "DISTRIBUTED BY HASH(id) BUCKETS 2 PROPERTIES ('replication_num' = '1'{extra})"
)
SLOW_FSE_OFF = ", 'fast_schema_evolution' = 'false'"


@pytest.fixture
def slow_jobs(sr: SqlTarget) -> Iterator[None]:
    """Scheduler rounds of 1.5 s (a job takes three), so a test can act while one runs."""
    if sr.emulator is None:
        yield  # a real StarRocks' scheduler runs every 10 s anyway
        return
    (before,) = [
        r[2] for r in run(sr, None, "ADMIN SHOW FRONTEND CONFIG LIKE 'alter_scheduler_interval_millisecond'")
    ]
    run(sr, None, "ADMIN SET FRONTEND CONFIG ('alter_scheduler_interval_millisecond' = '1500')")
    try:
        yield
    finally:
        run(sr, None, f"ADMIN SET FRONTEND CONFIG ('alter_scheduler_interval_millisecond' = '{before}')")


def columns(sr: SqlTarget, db: str, table: str) -> dict[str, str]:
    return {r[0]: r[1].upper() for r in run(sr, db, f"DESC `{table}`")}


def jobs(sr: SqlTarget, db: str, table: str) -> list[dict]:
    listed = run(sr, db, f"SHOW ALTER TABLE COLUMN FROM `{db}` WHERE TableName = '{table}'", dicts=True)
    assert all(list(job) == TITLE_NAMES for job in listed)
    return listed


def test_add_column_under_fast_schema_evolution_is_a_finished_job_at_once(sr, db):
    run(sr, db, TABLE.format(name="t", extra=""), "INSERT INTO t VALUES (1, 'a', 1)")
    run(sr, db, "ALTER TABLE t ADD COLUMN extra INT NULL, ADD COLUMN more VARCHAR(8) NULL")
    job = wait_for_schema_change(sr, db, "t", timeout=30)
    assert job["State"] == "FINISHED"
    assert {"extra", "more"} <= set(columns(sr, db, "t"))
    assert "FAST_SCHEMA_EVOLUTION" in run(sr, db, "SHOW CREATE TABLE t")[0][1].upper()


def test_add_column_without_fast_schema_evolution_runs_as_a_job_and_refuses_a_second_alter(sr, db, slow_jobs):
    run(sr, db, TABLE.format(name="t", extra=SLOW_FSE_OFF), "INSERT INTO t VALUES (1, 'a', 1)")
    run(sr, db, "ALTER TABLE t ADD COLUMN extra INT NULL")
    (job,) = jobs(sr, db, "t")
    assert job["State"] in ("PENDING", "WAITING_TXN", "RUNNING")
    assert job["FinishTime"] == "NULL" and job["Timeout"] == "86400"
    assert "extra" not in columns(sr, db, "t")  # the new schema is not visible before the job finishes
    with pytest.raises(pymysql.err.MySQLError) as err:
        run(sr, db, "ALTER TABLE t ADD COLUMN other INT NULL")
    assert 'A schema change operation is in progress on the table "t"' in err.value.args[1]
    run(sr, db, "INSERT INTO t VALUES (2, 'b', 2)")  # loads go on during the job
    assert wait_for_schema_change(sr, db, "t")["State"] == "FINISHED"
    assert "extra" in columns(sr, db, "t")
    assert run(sr, db, "SELECT id, v, extra FROM t ORDER BY id") == [(1, "a", None), (2, "b", None)]
    run(sr, db, "ALTER TABLE t ADD COLUMN other INT NULL")  # NORMAL again


def test_modify_column_is_a_job_and_rows_loaded_meanwhile_are_converted(sr, db, slow_jobs):
    run(sr, db, TABLE.format(name="t", extra=""), "INSERT INTO t VALUES (1, 'a', 7)")
    run(sr, db, "ALTER TABLE t MODIFY COLUMN n VARCHAR(20) NULL")
    assert columns(sr, db, "t")["n"] == "BIGINT"
    with pytest.raises(pymysql.err.MySQLError) as err:
        run(sr, db, "ALTER TABLE t RENAME t2")
    assert "A schema change operation is in progress" in err.value.args[1]
    run(sr, db, "INSERT INTO t VALUES (2, 'b', 8)")
    job = wait_for_schema_change(sr, db, "t")
    assert job["State"] == "FINISHED" and job["FinishTime"] != "NULL"
    assert columns(sr, db, "t")["n"] == "VARCHAR(20)"
    assert run(sr, db, "SELECT id, n FROM t ORDER BY id") == [(1, "7"), (2, "8")]


def test_a_value_the_new_type_cannot_hold_cancels_the_job_and_keeps_the_old_schema(sr, db):
    run(sr, db, TABLE.format(name="t", extra=""), "INSERT INTO t VALUES (1, '12', 1), (2, 'not a number', 2)")
    run(sr, db, "ALTER TABLE t MODIFY COLUMN v BIGINT NULL")
    job = wait_for_schema_change(sr, db, "t")
    assert job["State"] == "CANCELLED"
    assert job["Msg"]  # SchemaChangeJobV2 keeps the reason
    assert columns(sr, db, "t")["v"] == "VARCHAR(64)"
    assert run(sr, db, "SELECT v FROM t ORDER BY id") == [("12",), ("not a number",)]
    run(sr, db, "ALTER TABLE t ADD COLUMN after_cancel INT NULL")  # the table is NORMAL again


@pytest.mark.parametrize(
    "clause, message",
    [
        ("MODIFY COLUMN n INT NULL", "Can not change BIGINT to INT"),
        ("MODIFY COLUMN v VARCHAR(10) NULL", "Cannot shorten string length"),
        ("MODIFY COLUMN v VARCHAR(64) NOT NULL", "Can not change from nullable to non-nullable"),
        ("MODIFY COLUMN v VARCHAR(64) NULL DEFAULT 'x'", "Can not change default value"),
        ("MODIFY COLUMN v BOOLEAN NULL", "Can not change VARCHAR(64) to BOOLEAN"),
    ],
)
def test_modify_column_outside_what_starrocks_converts_is_refused_at_once(sr, db, clause, message):
    run(sr, db, TABLE.format(name="t", extra=""))
    with pytest.raises(pymysql.err.MySQLError) as err:
        run(sr, db, f"ALTER TABLE t {clause}")
    assert message in err.value.args[1]
    assert jobs(sr, db, "t") == []  # refused before any job was created


def test_one_refused_clause_fails_the_whole_alter(sr, db):
    run(sr, db, TABLE.format(name="t", extra=""))
    with pytest.raises(pymysql.err.MySQLError):
        run(sr, db, "ALTER TABLE t ADD COLUMN fine INT NULL, MODIFY COLUMN n INT NULL")
    assert "fine" not in columns(sr, db, "t")


def test_show_alter_table_column_lists_jobs_of_the_database_and_filters_by_table(sr, db):
    run(sr, db, TABLE.format(name="a", extra=""), TABLE.format(name="b", extra=""))
    run(sr, db, "ALTER TABLE a ADD COLUMN x INT NULL", "ALTER TABLE b ADD COLUMN y INT NULL")
    wait_for_schema_change(sr, db, "a")
    wait_for_schema_change(sr, db, "b")
    assert sorted(r[1] for r in run(sr, None, f"SHOW ALTER TABLE COLUMN FROM `{db}`")) == ["a", "b"]
    (job,) = jobs(sr, db, "b")
    assert job["TableName"] == "b" and job["IndexName"] == "b" and job["Progress"] == "NULL"
    assert int(job["TransactionId"]) > 0 and int(job["IndexId"]) != int(job["OriginIndexId"])


def test_dropping_the_table_cancels_its_running_job(sr, db, slow_jobs):
    if sr.emulator is None:
        pytest.skip("needs the emulator's scheduler pace")
    run(sr, db, TABLE.format(name="t", extra=""))
    run(sr, db, "ALTER TABLE t MODIFY COLUMN n VARCHAR(20) NULL")
    run(sr, db, "DROP TABLE t FORCE")
    time.sleep(0.2)
    (job,) = run(sr, None, f"SHOW ALTER TABLE COLUMN FROM `{db}`", dicts=True)
    assert job["State"] == "CANCELLED"
