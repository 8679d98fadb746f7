"""Every sync mode across two syncs, through the real entrypoint (`destination-starrocks write`), against the
emulator or a real StarRocks (STARROCKS_HOST)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from integration_tests.connector import (
    catalog,
    config_for,
    connect,
    record,
    row_counts,
    run_connector,
    stream,
    stream_state,
    stream_status,
)
from starrocks_emulator.process import EmulatorProcess


def sync(starrocks, database: str, streams: list[dict], lines: list[bytes]):  # noqa: ANN001, ANN201
    run = run_connector("write", config_for(starrocks, database=database), catalog(*streams), lines)
    assert run.returncode == 0, run.stderr[-3000:]
    return run


def rows(starrocks, sql: str) -> list[tuple]:  # noqa: ANN001
    with connect(starrocks) as conn, conn.cursor() as cursor:
        cursor.execute(sql)
        return list(cursor.fetchall())


def drop(starrocks, *databases: str) -> None:  # noqa: ANN001
    for database in databases:
        rows(starrocks, f"DROP DATABASE IF EXISTS `{database}`")


def test_append_grows_across_syncs(starrocks, fresh_database):
    try:
        for sync_id, ids in ((1, range(0, 3)), (2, range(3, 5))):
            entry = stream("events", sync_id=sync_id, generation_id=sync_id)
            sync(
                starrocks,
                fresh_database,
                [entry],
                [record("events", {"id": i, "name": f"e{i}"}) for i in ids],
            )
        got = rows(
            starrocks, f"SELECT `id`, `_airbyte_generation_id` FROM `{fresh_database}`.`events` ORDER BY `id`"
        )
        assert got == [(0, 1), (1, 1), (2, 1), (3, 2), (4, 2)]
    finally:
        drop(starrocks, fresh_database)


def test_overwrite_replaces_the_table_atomically_it_is_never_empty(starrocks, fresh_database):
    table = f"`{fresh_database}`.`snap`"
    try:
        first = [record("snap", {"id": i, "name": "old"}) for i in range(50)]
        sync(
            starrocks,
            fresh_database,
            [stream("snap", mode="overwrite", generation_id=1, minimum_generation_id=1)],
            first,
        )
        assert rows(starrocks, f"SELECT COUNT(*) FROM {table}") == [(50,)]

        second = [record("snap", {"id": i, "name": "new"}) for i in range(100, 170)]
        second += [stream_state("snap", 1), stream_status("snap")]
        entry = stream("snap", mode="overwrite", generation_id=2, minimum_generation_id=2, sync_id=2)
        with row_counts(starrocks, table) as counts:
            sync(starrocks, fresh_database, [entry], second)
        assert counts and set(counts) <= {50, 70}, sorted(set(counts))
        assert rows(starrocks, f"SELECT DISTINCT `name`, `_airbyte_generation_id` FROM {table}") == [
            ("new", 2)
        ]
        assert {r[0] for r in rows(starrocks, f"SHOW TABLES FROM `{fresh_database}`")} == {"snap"}
    finally:
        drop(starrocks, fresh_database)


def test_a_failed_overwrite_leaves_the_old_table_untouched(starrocks, fresh_database):
    table = f"`{fresh_database}`.`snap`"
    try:
        entry = stream("snap", mode="overwrite", generation_id=1, minimum_generation_id=1)
        sync(starrocks, fresh_database, [entry], [record("snap", {"id": 1, "name": "kept"})])
        # The second sync breaks mid-stream: a line that is not JSON fails it after one record.
        broken = [record("snap", {"id": 2, "name": "lost"}), b"{not json"]
        entry2 = stream("snap", mode="overwrite", generation_id=2, minimum_generation_id=2, sync_id=2)
        run = run_connector("write", config_for(starrocks, database=fresh_database), catalog(entry2), broken)
        assert run.returncode != 0
        assert rows(starrocks, f"SELECT `id`, `name` FROM {table}") == [(1, "kept")]
    finally:
        drop(starrocks, fresh_database)


def test_dedup_keeps_the_newest_by_cursor_even_out_of_order_and_cdc_deletes_remove_keys(
    starrocks, fresh_database
):
    properties = {
        "id": {"type": "integer"},
        "v": {"type": "string"},
        "updated_at": {"type": "string", "format": "date-time"},
        "_ab_cdc_deleted_at": {"type": ["null", "string"], "format": "date-time"},
    }

    def rec(i: int, day: int, v: str, deleted: bool = False) -> bytes:
        data = {"id": i, "v": v, "updated_at": f"2024-01-{day:02d}T00:00:00Z"}
        if deleted:
            data["_ab_cdc_deleted_at"] = f"2024-01-{day:02d}T00:00:00Z"
        return record("users", data)

    def entry(sync_id: int) -> dict:
        return stream("users", properties, mode="append_dedup", primary_key=[["id"]], cursor=["updated_at"],
                      sync_id=sync_id, generation_id=1)  # fmt: skip

    try:
        first = [
            rec(1, 5, "one@5"),
            rec(1, 3, "one@3"),
            rec(2, 1, "two@1"),
            rec(3, 1, "three@1"),
            rec(2, 2, "two@2"),
        ]
        sync(starrocks, fresh_database, [entry(1)], first)
        table = f"`{fresh_database}`.`users`"
        assert rows(starrocks, f"SELECT `id`, `v` FROM {table} ORDER BY `id`") == [
            (1, "one@5"), (2, "two@2"), (3, "three@1"),
        ]  # fmt: skip
        # Second sync: an older version of 1 (ignored), a newer 2, 3 deleted by CDC, a new 4.
        second = [rec(1, 4, "one@4"), rec(2, 9, "two@9"), rec(3, 8, "", deleted=True), rec(4, 1, "four@1")]
        sync(starrocks, fresh_database, [entry(2)], second)
        assert rows(starrocks, f"SELECT `id`, `v` FROM {table} ORDER BY `id`") == [
            (1, "one@5"), (2, "two@9"), (4, "four@1"),
        ]  # fmt: skip
    finally:
        drop(starrocks, fresh_database)


def test_schema_evolution_across_two_syncs(starrocks, fresh_database):
    try:
        sync(
            starrocks,
            fresh_database,
            [stream("evo", {"id": {"type": "integer"}})],
            [record("evo", {"id": 1})],
        )
        properties = {"id": {"type": "integer"}, "extra": {"type": "object"}}
        sync(
            starrocks,
            fresh_database,
            [stream("evo", properties, sync_id=2)],
            [record("evo", {"id": 2, "extra": {"a": 1}})],
        )
        got = rows(starrocks, f"SELECT `id`, `extra` FROM `{fresh_database}`.`evo` ORDER BY `id`")
        assert got[0] == (1, None)
        assert got[1][0] == 2 and orjson.loads(got[1][1]) == {"a": 1}
    finally:
        drop(starrocks, fresh_database)


def test_namespaces_and_hostile_names(starrocks, fresh_database):
    namespace = f"{fresh_database}_other"
    hostile = "x`; DROP DATABASE y; --"
    entries = [
        stream(hostile, {hostile: {"type": "string"}}),
        stream("same", namespace=namespace),
        stream("same"),
    ]
    lines = [
        record(hostile, {hostile: "odd"}),
        record("same", {"id": 1, "name": "in namespace"}, namespace=namespace),
        record("same", {"id": 2, "name": "default"}),
    ]
    try:
        sync(starrocks, fresh_database, entries, lines)
        safe = "x___DROP_DATABASE_y____"
        assert rows(starrocks, f"SELECT `{safe}` FROM `{fresh_database}`.`{safe}`") == [("odd",)]
        assert rows(starrocks, f"SELECT `id` FROM `{namespace}`.`same`") == [(1,)]
        assert rows(starrocks, f"SELECT `id` FROM `{fresh_database}`.`same`") == [(2,)]
    finally:
        drop(starrocks, fresh_database, namespace)


def test_a_plain_string_cursor_keeps_the_newest_within_and_across_syncs(starrocks, fresh_database):
    # Before: every load carried merge_condition on the VARCHAR cursor, which StarRocks refuses.
    properties = {"id": {"type": "integer"}, "v": {"type": "string"}, "seen": {"type": "string"}}

    def entry(sync_id: int) -> dict:
        return stream("users", properties, mode="append_dedup", primary_key=[["id"]], cursor=["seen"],
                      sync_id=sync_id, generation_id=1)  # fmt: skip

    def rec(i: int, seen: str, v: str) -> bytes:
        return record("users", {"id": i, "v": v, "seen": seen})

    try:
        first = [
            rec(1, "2024-01-05 10:00:00", "one@10h"),
            rec(1, "2024-01-05 09:00:00", "one@9h"),
            rec(2, "b", "two@b"),
        ]
        sync(starrocks, fresh_database, [entry(1)], first)
        table = f"`{fresh_database}`.`users`"
        assert rows(starrocks, f"SELECT `id`, `v` FROM {table} ORDER BY `id`") == [
            (1, "one@10h"),
            (2, "two@b"),
        ]
        second = [rec(1, "2024-01-05 09:30:00", "one@9h30"), rec(2, "c", "two@c")]
        sync(starrocks, fresh_database, [entry(2)], second)
        assert rows(starrocks, f"SELECT `id`, `v` FROM {table} ORDER BY `id`") == [
            (1, "one@10h"),
            (2, "two@c"),
        ]
    finally:
        drop(starrocks, fresh_database)


def test_a_1000_column_dedup_table_loads_with_headers_far_under_the_fe_limit(starrocks, fresh_database):
    # Before: the `columns` header listed every column, here ~75 KB: over StarRocks' 32 KiB http_max_header_size
    # (and the emulator's HTTP line limit), so every load of a wide dedup table was refused.
    names = [f"measurement_{i:04d}_of_a_sensor_somewhere_in_the_eastern_region_celsius" for i in range(1000)]
    properties = {"id": {"type": "integer"}, **{n: {"type": "integer"} for n in names},
                  "_ab_cdc_deleted_at": {"type": ["null", "string"], "format": "date-time"}}  # fmt: skip
    entry = stream("wide", properties, mode="append_dedup", primary_key=[["id"]])
    lines = [record("wide", {"id": i, **{n: i for n in names}}) for i in range(5)]
    lines += [record("wide", {"id": 4, "_ab_cdc_deleted_at": "2024-01-01T00:00:00Z"})]  # __op from the JSON
    try:
        sync(starrocks, fresh_database, [entry], lines)
        got = rows(starrocks, f"SELECT `id`, `{names[999]}` FROM `{fresh_database}`.`wide` ORDER BY `id`")
        assert got == [(0, 0), (1, 1), (2, 2), (3, 3)]
    finally:
        drop(starrocks, fresh_database)


def test_streams_whose_names_collide_keep_their_tables_whatever_the_catalog_order(starrocks, fresh_database):
    # Before: the first stream in catalog order took the plain name, so reordering swapped the two tables.
    a, b = stream("user events"), stream("user_events")
    try:
        for order, sync_id in (((a, b), 1), ((b, a), 2)):
            lines = [record("user events", {"id": sync_id, "name": "spaced"}),
                     record("user_events", {"id": sync_id, "name": "plain"})]  # fmt: skip
            sync(starrocks, fresh_database, list(order), lines)
        tables = {r[0] for r in rows(starrocks, f"SHOW TABLES FROM `{fresh_database}`")}
        spaced = next(t for t in tables if t != "user_events")
        assert rows(starrocks, f"SELECT DISTINCT `name` FROM `{fresh_database}`.`user_events`") == [
            ("plain",)
        ]
        assert rows(starrocks, f"SELECT DISTINCT `name` FROM `{fresh_database}`.`{spaced}`") == [("spaced",)]
    finally:
        drop(starrocks, fresh_database)


def _emulator_only(starrocks) -> Any:  # noqa: ANN001
    if getattr(starrocks, "emulator", None) is None:
        pytest.skip("reads the emulator's own counters")
    return starrocks.emulator


def test_overwrites_and_check_leave_nothing_in_the_recycle_bin(starrocks, fresh_database):
    # Before: the replaced table and staging tables were dropped without FORCE, so each overwrite kept a full
    # copy of the old table in StarRocks' recycle bin for catalog_trash_expire_second (a day by default).
    emulator = _emulator_only(starrocks)
    try:
        for generation in (1, 2, 3):
            entry = stream("snap", mode="overwrite", generation_id=generation, minimum_generation_id=generation,
                           sync_id=generation)  # fmt: skip
            sync(
                starrocks,
                fresh_database,
                [entry],
                [record("snap", {"id": i, "name": "x"}) for i in range(20)],
            )
        check = run_connector("check", config_for(starrocks, database=fresh_database))
        assert check.of_type("CONNECTION_STATUS")[0]["connectionStatus"]["status"] == "SUCCEEDED"
        kept = [t for t in emulator.stats()["recycle_bin"] if t["db"] == fresh_database]
        assert kept == []
        assert rows(starrocks, f"SELECT COUNT(*) FROM `{fresh_database}`.`snap`") == [(20,)]
    finally:
        drop(starrocks, fresh_database)


def test_a_sync_waits_for_a_schema_change_already_running_and_sends_none_twice(emulator, fresh_database):
    # Before: the connector sent its ADD COLUMN while another change ran, and StarRocks' "A schema change
    # operation is in progress on the table" failed the sync; it then polled DESC, which cannot see a job.
    target = emulator
    sync(target, fresh_database, [stream("evo", {"id": {"type": "integer"}, "n": {"type": "integer"}})],
         [record("evo", {"id": 1, "n": 1})])  # fmt: skip
    with connect(target) as conn, conn.cursor() as cursor:
        cursor.execute("ADMIN SET FRONTEND CONFIG ('alter_scheduler_interval_millisecond' = '1000')")
        cursor.execute(f"ALTER TABLE `{fresh_database}`.`evo` MODIFY COLUMN `n` LARGEINT NULL")  # a job, ~3 s
    properties = {"id": {"type": "integer"}, "n": {"type": "integer"}, "added": {"type": "string"}}
    run = sync(
        target,
        fresh_database,
        [stream("evo", properties, sync_id=2)],
        [record("evo", {"id": 2, "added": "a"})],
    )
    assert rows(target, f"SELECT `id`, `added` FROM `{fresh_database}`.`evo` ORDER BY `id`") == [
        (1, None),
        (2, "a"),
    ]
    with connect(target) as conn, conn.cursor() as cursor:
        cursor.execute(f"SHOW ALTER TABLE COLUMN FROM `{fresh_database}` WHERE TableName = 'evo'")
        names = [d[0] for d in cursor.description]
        states = [dict(zip(names, r, strict=False))["State"] for r in cursor.fetchall()]
    assert states == ["FINISHED", "FINISHED"]  # the hand-made MODIFY, then the connector's one ADD COLUMN
    assert any("adding columns added" in m for m in run.logs)


def test_a_small_cluster_fails_check_and_sync_with_the_fix_before_creating_any_table(fresh_database):
    # One BE and StarRocks' default default_replication_num of 3, and no replication_num table property.
    # Before: check failed with StarRocks' bare error, without the fix to apply.
    with EmulatorProcess(default_replication_num=3) as small:
        config = config_for(small, database=fresh_database, table_properties={})
        check = run_connector("check", config)
        status = check.of_type("CONNECTION_STATUS")[0]["connectionStatus"]
        assert status["status"] == "FAILED"
        assert '"replication_num": "1"' in status["message"] and "1 live BE" in status["message"], status
        run = run_connector("write", config, catalog(stream("a"), stream("b")), [record("a", {"id": 1})])
        assert run.returncode != 0
        error = run.errors[0]
        assert error["failure_type"] == "config_error" and '"replication_num": "1"' in error["message"]
        with connect(small) as conn, conn.cursor() as cursor:
            cursor.execute("SHOW DATABASES")
            if fresh_database in {r[0] for r in cursor.fetchall()}:
                cursor.execute(f"SHOW TABLES FROM `{fresh_database}`")
                assert cursor.fetchall() == ()
        fixed = run_connector("write", config_for(small, database=fresh_database), catalog(stream("a")),
                              [record("a", {"id": 1})])  # fmt: skip
        assert fixed.returncode == 0, fixed.stderr[-2000:]
