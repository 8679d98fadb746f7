"""Kill-and-restart, 20 cycles, inside `make test` (`make chaos` runs 100): nothing lost, dedup keys newest;
and 10 cycles of GLOBAL states with one transaction per checkpoint across tables (StarRocks 4.0).

The harness (integration_tests/chaos.py) SIGKILLs the connector at seeded random moments and restarts it from
the last STATE it echoed. This test fails on any violation: a record missing, a dedup key not holding its
newest record, a record before an echoed STATE not committed, or an append duplicate that is *not* a record
a killed run committed after its last echoed STATE (the only duplicates at-least-once delivery allows). The
number of duplicates is reported, not asserted: it depends on where the kills land.
"""

from __future__ import annotations

import pytest

from integration_tests.chaos import run_chaos

CYCLES = 20


@pytest.mark.timeout(400)
def test_twenty_kills_lose_nothing_and_duplicate_only_rows_committed_past_the_last_state(emulator, capsys):
    report = run_chaos(CYCLES, seed=20, emulator=emulator)
    with capsys.disabled():
        print(f"\n{report.summary()}")  # the measured duplicates, shown in `make test`
    assert report.violations == [], report.summary()
    assert report.killed_runs == CYCLES
    assert report.append_rows == report.records_per_stream + report.append_duplicates
    assert report.dedup_keys == 250
    assert report.states_echoed > 0


@pytest.mark.emulator_only
@pytest.mark.timeout(400)
def test_ten_kills_with_one_transaction_per_checkpoint_never_leave_the_tables_at_different_checkpoints(
    capsys,
):
    report = run_chaos(10, seed=15, multi_table=True)
    with capsys.disabled():
        print(f"\n{report.summary()}")
    assert report.violations == [], report.summary()  # CheckpointWatch is strict in this mode
    assert report.killed_runs == 10 and report.checkpoint_checks > 10
    assert report.checkpoint_mismatches == 0
    # Rows past the last echoed STATE only from a kill between a commit and its STATE, never one table alone.
    assert report.runs_with_rows_past_the_last_state <= report.commit_window_runs


def _harness_tables(cursor, database: str) -> None:  # noqa: ANN001 - a pymysql cursor
    """The harness's two tables, plain (the tests fill them with the rows a broken connector would leave)."""
    from integration_tests.chaos import APPEND_STREAM, DEDUP_STREAM

    cursor.execute(f"CREATE DATABASE `{database}`")
    for table, columns in ((APPEND_STREAM, "`id` BIGINT"), (DEDUP_STREAM, "`id` BIGINT, `seq` BIGINT")):
        cursor.execute(
            f"CREATE TABLE `{database}`.`{table}` ({columns}) DUPLICATE KEY(`id`) "
            "DISTRIBUTED BY HASH(`id`) BUCKETS 1 PROPERTIES ('replication_num' = '1')"
        )


def test_the_harness_notices_tables_at_different_checkpoints(starrocks, fresh_database):
    from integration_tests.chaos import APPEND_STREAM, DEDUP_STREAM, ChaosReport, CheckpointWatch
    from integration_tests.connector import connect

    with connect(starrocks) as conn, conn.cursor() as cursor:
        _harness_tables(cursor, fresh_database)
        cursor.execute(f"INSERT INTO `{fresh_database}`.`{APPEND_STREAM}` VALUES (0), (1), (2)")
        cursor.execute(f"INSERT INTO `{fresh_database}`.`{DEDUP_STREAM}` VALUES (0, 0), (1, 1)")
    report = ChaosReport(cycles=0, seed=0, records_per_stream=10, state_kind="GLOBAL")
    watch = CheckpointWatch(
        starrocks, fresh_database, {APPEND_STREAM: 0, DEDUP_STREAM: 0}, (0, 0), report, True
    )
    watch.sending(
        [b'{"type":"STATE","state":{"type":"GLOBAL","global":{"shared_state":{"v":{"events":3,"users":1}}}}}']
    )
    watch.sending(
        [b'{"type":"STATE","state":{"type":"GLOBAL","global":{"shared_state":{"v":{"events":3,"users":3}}}}}']
    )
    assert watch.check((0, 0), "check") == (3, 2)  # events at (3, 1), users past it: no checkpoint sent
    assert report.checkpoint_mismatches == 1 and "not one checkpoint" in report.violations[0]
    watch.leftover = (3, 2)  # the same rows left by a killed run: now they are what the tables must show
    watch.check((3, 1), "check")
    assert report.checkpoint_mismatches == 1


def test_the_harness_notices_a_lost_record_an_unexplained_duplicate_and_a_stale_key(
    starrocks, fresh_database
):
    from integration_tests.chaos import (
        APPEND_STREAM,
        DEDUP_KEYS,
        DEDUP_STREAM,
        ChaosReport,
        Source,
        _final_check,
    )
    from integration_tests.connector import connect

    source = Source(records_per_stream=1000)
    with connect(starrocks) as conn, conn.cursor() as cursor:
        _harness_tables(cursor, fresh_database)
        events = [i for i in range(1000) if i != 500] + [7]  # 500 lost, 7 twice
        cursor.execute(
            f"INSERT INTO `{fresh_database}`.`{APPEND_STREAM}` VALUES " + ",".join(f"({i})" for i in events)
        )
        newest = {k: max(range(k, 1000, DEDUP_KEYS)) for k in range(DEDUP_KEYS)}
        newest[3] -= DEDUP_KEYS  # key 3 holds an older record
        cursor.execute(
            f"INSERT INTO `{fresh_database}`.`{DEDUP_STREAM}` VALUES "
            + ",".join(f"({k}, {s})" for k, s in newest.items())
        )
    report = ChaosReport(cycles=0, seed=0, records_per_stream=1000)
    _final_check(starrocks, fresh_database, source, report)
    text = " | ".join(report.violations)
    assert "1 records missing, e.g. [500]" in text
    assert "1 duplicates, but killed runs committed only 0 rows" in text
    assert "dedup: 1 keys do not hold their newest record, e.g. [3]" in text
