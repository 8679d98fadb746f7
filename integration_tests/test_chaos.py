"""Kill-and-restart, 20 cycles, inside `make test` (`make chaos` runs 100): nothing lost, dedup keys newest.

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
        cursor.execute(f"CREATE DATABASE `{fresh_database}`")
        for table, columns in ((APPEND_STREAM, "`id` BIGINT"), (DEDUP_STREAM, "`id` BIGINT, `seq` BIGINT")):
            cursor.execute(
                f"CREATE TABLE `{fresh_database}`.`{table}` ({columns}) DUPLICATE KEY(`id`) "
                "DISTRIBUTED BY HASH(`id`) BUCKETS 1 PROPERTIES ('replication_num' = '1')"
            )
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
