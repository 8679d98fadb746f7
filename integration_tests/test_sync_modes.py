"""Every sync mode across two syncs, through the real entrypoint (`destination-starrocks write`), against the
emulator or a real StarRocks (STARROCKS_HOST)."""

from __future__ import annotations

import orjson

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
