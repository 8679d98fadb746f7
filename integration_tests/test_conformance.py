"""Scenarios of Airbyte's destination suite (the bulk CDK's BasicFunctionalityIntegrationTest, in airbytehq/airbyte
under airbyte-cdk/bulk/core/load/src/testFixtures/), run through the real entrypoint against the emulator or a real
StarRocks (STARROCKS_HOST), each asserting the exact rows the CDK's test expects.

Rows are compared as (fields..., generation id, sync id, extracted_at in ms), the CDK's OutputRecord. Where the
suite lets a destination choose (`commitDataIncrementally`, `dedupChangeUsesDefault`), this connector does not
commit a truncate incrementally and gives a new key column its type's default; the tests pin those choices.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import orjson
import pytest

from integration_tests.chaos import ConnectorProcess
from integration_tests.connector import (
    ConnectorRun,
    catalog,
    config_for,
    connect,
    record,
    row_counts,
    run_connector,
    state_value,
    stream,
    stream_state,
    stream_status,
)

pytestmark = pytest.mark.timeout(300)

NAME = "test_stream"
EPOCH = dt.datetime(1970, 1, 1)
TIMESTAMPED = {
    "id": {"type": "integer"},
    "updated_at": {"type": "string", "format": "date-time"},
    "name": {"type": "string"},
}


# ---- helpers -------------------------------------------------------------------------------------------


def sync(starrocks, database: str, entries: list[dict], lines: list[bytes], **kwargs: Any) -> ConnectorRun:  # noqa: ANN001
    run = run_connector("write", config_for(starrocks, database=database), catalog(*entries), lines, **kwargs)
    assert run.returncode == 0, (run.errors, run.stderr[-3000:])
    return run


def query(starrocks, sql: str) -> list[tuple]:  # noqa: ANN001
    with connect(starrocks) as conn, conn.cursor() as cursor:
        cursor.execute(sql)
        return list(cursor.fetchall())


def tables_in(starrocks, database: str) -> set[str]:  # noqa: ANN001
    return {row[0] for row in query(starrocks, f"SHOW TABLES FROM `{database}`")}


def dump(starrocks, database: str, columns: list[str], table: str = NAME) -> list[tuple]:  # noqa: ANN001
    """Rows as the CDK's OutputRecord: the fields, then generation id, sync id and extracted_at (ms)."""
    if table not in tables_in(starrocks, database):
        return []
    selected = ", ".join(f"`{c}`" for c in columns)
    got = query(
        starrocks,
        f"SELECT {selected}, `_airbyte_generation_id`, `_airbyte_meta`, `_airbyte_extracted_at` "
        f"FROM `{database}`.`{table}`",
    )
    rows = []
    for row in got:
        *fields, generation, meta, extracted_at = row
        sync_id = orjson.loads(meta).get("sync_id") if meta else None
        rows.append((*fields, generation, sync_id, round((extracted_at - EPOCH).total_seconds() * 1000)))
    return sorted(rows, key=repr)


def killed_after_its_state(starrocks, database: str, entries: list[dict], lines: list[bytes]) -> list:  # noqa: ANN001
    """Run a sync until its STATE is echoed, then SIGKILL it (the CDK's UncleanSyncEndBehavior.KILL)."""
    config = config_for(starrocks, database=database, flush_interval_seconds=0)  # commit and ack at once
    with ConnectorProcess(config, catalog(*entries)) as connector:
        assert connector.send(lines)
        assert connector.wait_for_states(1, timeout=60), connector.stderr[-3000:]
        connector.kill()
        return [state_value(s) for s in connector.states]


def killed_refresh(starrocks, database: str, mode: str, prior_sync: bool = True) -> None:  # noqa: ANN001
    """Sync 1 (generation 41: ids 1 and 2 at 01:00), then a truncate refresh (42/42) writing a new version of
    id 1 that is killed once its STATE is echoed; the refresh is not visible yet (no incremental commit)."""
    if prior_sync:
        sync(
            starrocks,
            database,
            [timestamped_stream(mode, 41, 0, 41)],
            [timestamped(1, 1, 100), timestamped(2, 1, 100)],
        )
    refresh = timestamped_stream(mode, 42, 42, 42)
    lines = [timestamped(1, 2, 200), stream_state(NAME, 1)]
    assert killed_after_its_state(starrocks, database, [refresh], lines) == [1]
    assert dump(starrocks, database, ["id", "updated_at", "name"]) == (SYNC_ONE if prior_sync else [])


def at(hour: int) -> dt.datetime:
    return dt.datetime(2024, 1, 23, hour)


def timestamped(ident: int, hour: int, extracted_at: int) -> bytes:
    data = {"id": ident, "updated_at": f"2024-01-23T{hour:02d}:00:00Z", "name": f"foo_{ident}_{extracted_at}"}
    return record(NAME, data, emitted_at=extracted_at)


def timestamped_stream(mode: str, generation: int, minimum: int, sync_id: int) -> dict:
    dedup = mode == "append_dedup"
    return stream(
        NAME, TIMESTAMPED, mode=mode, primary_key=[["id"]] if dedup else None, cursor=["updated_at"] if dedup else None,
        generation_id=generation, minimum_generation_id=minimum, sync_id=sync_id,
    )  # fmt: skip


def out(ident: int, hour: int, extracted_at: int, generation: int, sync_id: int) -> tuple:
    return (ident, at(hour), f"foo_{ident}_{extracted_at}", generation, sync_id, extracted_at)


SYNC_ONE = [out(1, 1, 100, 41, 41), out(2, 1, 100, 41, 41)]


def drop(starrocks, database: str) -> None:  # noqa: ANN001
    query(starrocks, f"DROP DATABASE IF EXISTS `{database}`")


@pytest.fixture
def database(starrocks, fresh_database):  # noqa: ANN001, ANN201
    yield fresh_database
    drop(starrocks, fresh_database)


# ---- 1. the end of input: a stream without COMPLETE is incomplete ---------------------------------------


@pytest.mark.parametrize("end_status", [None, "INCOMPLETE"])
def test_a_truncate_refresh_ending_without_complete_fails_and_keeps_the_previous_table(
    starrocks, database, end_status
):
    """testTruncateRefresh (TERMINATE_WITH_NO_STREAM_STATUS), and the same with an INCOMPLETE status."""
    properties = {"id": {"type": "integer"}, "name": {"type": "string"}}
    first = stream(NAME, properties, generation_id=12, minimum_generation_id=0, sync_id=42)
    sync(starrocks, database, [first], [record(NAME, {"id": 42, "name": "first_value"}, emitted_at=1234)])

    refresh = stream(NAME, properties, generation_id=13, minimum_generation_id=13, sync_id=43)
    second = [record(NAME, {"id": 42, "name": "second_value"}, emitted_at=2345), stream_state(NAME, "acked")]
    config = config_for(starrocks, database=database)
    run = run_connector("write", config, catalog(refresh), second, end_status=end_status)
    assert run.returncode != 0
    why = "no stream status" if end_status is None else "INCOMPLETE"
    assert [(e["failure_type"], f"{NAME} ({why})" in e["message"]) for e in run.errors] == [
        ("transient_error", True)
    ]
    assert [state_value(s) for s in run.states] == ["acked"]  # its record is committed (in staging)
    assert dump(starrocks, database, ["id", "name"]) == [(42, "first_value", 12, 42, 1234)]

    sync(starrocks, database, [refresh], [record(NAME, {"id": 42, "name": "third_value"}, emitted_at=3456)])
    assert dump(starrocks, database, ["id", "name"]) == [
        (42, "second_value", 13, 43, 2345),
        (42, "third_value", 13, 43, 3456),
    ]
    assert tables_in(starrocks, database) == {NAME}


def test_a_caller_without_generations_or_statuses_ends_its_streams_with_the_input(starrocks, database):
    """A caller from before refreshes (no generation ids, no stream status at all): end of input = end of stream."""
    entry = stream(NAME, mode="overwrite")
    for field in ("generation_id", "minimum_generation_id", "sync_id"):
        del entry[field]
    sync(starrocks, database, [entry], [record(NAME, {"id": 1, "name": "old"})], end_status=None)
    run = sync(starrocks, database, [entry], [record(NAME, {"id": 2, "name": "new"})], end_status=None)
    assert query(starrocks, f"SELECT `id`, `name` FROM `{database}`.`{NAME}`") == [(2, "new")]
    assert any("counts as the end of" in line for line in run.logs)
    assert tables_in(starrocks, database) == {NAME}


# ---- 2. an interrupted truncate resumes without losing what it acknowledged ----------------------------


@pytest.mark.parametrize("mode", ["append", "append_dedup"])
def test_records_a_killed_refresh_acknowledged_survive_a_later_incremental_sync(starrocks, database, mode):
    """resumeAfterCancelledTruncate: after the killed refresh, an ordinary sync (43, minimum 0) writes id 2."""
    killed_refresh(starrocks, database, mode)
    run = sync(starrocks, database, [timestamped_stream(mode, 43, 0, 43)], [timestamped(2, 3, 300)])
    expected = {
        # The CDK's expected records: both of sync 1, sync 2's acknowledged one, sync 3's.
        "append": [*SYNC_ONE, out(1, 2, 200, 42, 42), out(2, 3, 300, 43, 43)],
        # Deduplicated on id by updated_at: sync 2's id 1 (02:00) and sync 3's id 2 (03:00) are the newest.
        "append_dedup": [out(1, 2, 200, 42, 42), out(2, 3, 300, 43, 43)],
    }[mode]
    assert dump(starrocks, database, ["id", "updated_at", "name"]) == sorted(expected, key=repr)
    assert tables_in(starrocks, database) == {NAME}
    assert any("folded 1 rows" in line for line in run.logs), run.logs


@pytest.mark.parametrize("mode", ["append", "append_dedup"])
def test_an_interrupted_refresh_retried_with_its_generation_reuses_its_staging(starrocks, database, mode):
    """testInterruptedTruncateWithPriorData: the third sync is the same refresh (42/42) again."""
    killed_refresh(starrocks, database, mode)
    sync(starrocks, database, [timestamped_stream(mode, 42, 42, 42)], [timestamped(2, 3, 300)])
    assert dump(starrocks, database, ["id", "updated_at", "name"]) == [
        out(1, 2, 200, 42, 42),
        out(2, 3, 300, 42, 42),
    ]
    assert tables_in(starrocks, database) == {NAME}


@pytest.mark.parametrize(
    "next_generation", [(42, 42), (43, 0)], ids=["the-refresh-again", "an-incremental-sync"]
)
def test_an_interrupted_first_refresh_ends_up_in_the_table_the_next_sync_creates(
    starrocks, database, next_generation
):
    """testInterruptedTruncateWithoutPriorData (the refresh again), and an ordinary sync after it (a fold)."""
    killed_refresh(starrocks, database, "append", prior_sync=False)
    generation, minimum = next_generation
    sync(
        starrocks,
        database,
        [timestamped_stream("append", generation, minimum, generation)],
        [timestamped(2, 3, 300)],
    )
    assert dump(starrocks, database, ["id", "updated_at", "name"]) == [
        out(1, 2, 200, 42, 42),
        out(2, 3, 300, generation, generation),
    ]
    assert tables_in(starrocks, database) == {NAME}


def test_a_fold_interrupted_after_its_insert_does_not_duplicate_rows(starrocks, database):
    killed_refresh(starrocks, database, "append")
    # As if the next sync died after the fold's INSERT committed and before it dropped the staging table.
    query(starrocks, f"INSERT INTO `{database}`.`{NAME}` SELECT * FROM `{database}`.`{NAME}__airbyte_tmp`")
    sync(starrocks, database, [timestamped_stream("append", 43, 0, 43)], [timestamped(2, 3, 300)])
    expected = [*SYNC_ONE, out(1, 2, 200, 42, 42), out(2, 3, 300, 43, 43)]
    assert dump(starrocks, database, ["id", "updated_at", "name"]) == sorted(expected, key=repr)
    assert tables_in(starrocks, database) == {NAME}


def test_a_fold_into_a_dedup_table_keeps_the_rows_that_are_newer_there(starrocks, database):
    """The fold upserts by key with the newest cursor winning: a final row newer than the staging row stays."""
    dedup = timestamped_stream("append_dedup", 41, 0, 41)
    sync(starrocks, database, [dedup], [timestamped(1, 5, 100), timestamped(2, 1, 100)])
    refresh = timestamped_stream("append_dedup", 42, 42, 42)
    lines = [timestamped(1, 2, 200), timestamped(2, 4, 200), stream_state(NAME, 1)]
    killed_after_its_state(starrocks, database, [refresh], lines)
    sync(starrocks, database, [timestamped_stream("append_dedup", 43, 0, 43)], [timestamped(3, 1, 300)])
    assert dump(starrocks, database, ["id", "updated_at", "name"]) == [
        out(1, 5, 100, 41, 41), out(2, 4, 200, 42, 42), out(3, 1, 300, 43, 43),
    ]  # fmt: skip


def test_a_refresh_retried_after_one_stream_was_swapped_in_keeps_that_streams_rows(starrocks, database):
    """A refresh whose stream `a` completed (swapped in) while `b` did not: the retry of the same generation
    resumes `a` from its last STATE, so `a` must load into its table, not into a new staging table."""
    entries = [stream(n, generation_id=5, minimum_generation_id=5, sync_id=5) for n in ("a", "b")]
    first = [
        record("a", {"id": 1, "name": "a1"}), stream_state("a", 1), stream_status("a"),
        record("b", {"id": 1, "name": "b1"}), stream_state("b", 1),
    ]  # fmt: skip
    config = config_for(starrocks, database=database)
    assert run_connector("write", config, catalog(*entries), first, end_status=None).returncode != 0
    sync(
        starrocks,
        database,
        entries,
        [record("a", {"id": 2, "name": "a2"}), record("b", {"id": 2, "name": "b2"})],
    )
    for name in ("a", "b"):
        got = query(starrocks, f"SELECT `id`, `name` FROM `{database}`.`{name}` ORDER BY `id`")
        assert got == [(1, f"{name}1"), (2, f"{name}2")]
    assert tables_in(starrocks, database) == {"a", "b"}


# ---- 3. a change of key or sync mode rebuilds the table ------------------------------------------------

KEYED = {name: {"type": "integer"} for name in ("id1", "id2", "id3", "updated_at")} | {
    "name": {"type": "string"}
}


def keyed_stream(second_key: str) -> dict:
    return stream(
        NAME, KEYED, mode="append_dedup", primary_key=[["id1"], [second_key]], cursor=["updated_at"],
        generation_id=42, minimum_generation_id=0, sync_id=42,
    )  # fmt: skip


def test_changing_the_primary_key_rebuilds_the_table_and_keeps_both_records(starrocks, database):
    """testDedupChangePk, with `dedupChangeUsesDefault`: StarRocks key columns are NOT NULL, so the old row gets
    id3 = 0."""
    data = {"id1": 1, "id2": 200, "updated_at": 1, "name": "foo_100"}
    sync(starrocks, database, [keyed_stream("id2")], [record(NAME, data, emitted_at=100)])
    data = {"id1": 1, "id3": 200, "updated_at": 1, "name": "foo_200"}
    run = sync(starrocks, database, [keyed_stream("id3")], [record(NAME, data, emitted_at=200)])
    assert dump(starrocks, database, ["id1", "id2", "id3", "updated_at", "name"]) == [
        (1, 200, 0, 1, "foo_100", 42, 42, 100),
        (1, None, 200, 1, "foo_200", 42, 42, 200),
    ]
    model = query(
        starrocks,
        "SELECT TABLE_MODEL, PRIMARY_KEY FROM information_schema.tables_config "
        f"WHERE TABLE_SCHEMA = '{database}' AND TABLE_NAME = '{NAME}'",
    )
    assert [(m, [k.strip(" `") for k in keys.split(",")]) for m, keys in model] == [
        ("PRIMARY_KEYS", ["id1", "id3"])
    ]
    assert any("rebuilt" in line and "1 rows had no value for the new key" in line for line in run.logs), (
        run.logs
    )
    assert tables_in(starrocks, database) == {NAME}


CDC = {
    "id": {"type": "integer"},
    "updated_at": {"type": "integer"},
    "v": {"type": "string"},
    "_ab_cdc_deleted_at": {"type": ["null", "string"], "format": "date-time"},
}


def cdc(ident: int | None, updated: int | None, v: str, extracted_at: int, deleted: bool = False) -> bytes:
    data: dict[str, Any] = {"id": ident, "updated_at": updated, "v": v}
    if deleted:
        data["_ab_cdc_deleted_at"] = "2024-01-01T00:00:00Z"
    return record(NAME, data, emitted_at=extracted_at)


def test_switching_between_append_and_dedup_rebuilds_the_table_readers_never_see_it_empty(
    starrocks, database
):
    append = stream(NAME, CDC, generation_id=1, minimum_generation_id=0, sync_id=1)
    history = [
        cdc(1, 1, "a", 100),
        cdc(1, 3, "c", 100),
        cdc(1, 2, "b", 300),  # the largest cursor wins, not the latest
        cdc(2, 1, "y", 100),
        cdc(2, 2, "", 100, deleted=True),  # the newest version of 2 is a CDC delete
        cdc(3, None, "p", 100),
        cdc(3, None, "q", 200),  # no cursor: the latest extracted wins
        cdc(None, 1, "n", 100),  # no key: StarRocks key columns are NOT NULL, so it gets id 0
    ]
    sync(starrocks, database, [append], history)
    dedup = stream(
        NAME, CDC, mode="append_dedup", primary_key=[["id"]], cursor=["updated_at"],
        generation_id=1, minimum_generation_id=0, sync_id=2,
    )  # fmt: skip
    with row_counts(starrocks, f"`{database}`.`{NAME}`") as counts:
        sync(starrocks, database, [dedup], [cdc(4, 1, "d", 400)])
    assert counts and set(counts) <= {8, 3, 4}, sorted(
        set(counts)
    )  # the old table until the swap, never empty
    select = f"SELECT `id`, `v` FROM `{database}`.`{NAME}` ORDER BY `id`"
    assert query(starrocks, select) == [(0, "n"), (1, "c"), (3, "q"), (4, "d")]

    back = stream(NAME, CDC, generation_id=1, minimum_generation_id=0, sync_id=3)
    sync(starrocks, database, [back], [cdc(1, 9, "z", 500)])
    assert sorted(query(starrocks, select)) == [(0, "n"), (1, "c"), (1, "z"), (3, "q"), (4, "d")]
    model = query(
        starrocks,
        f"SELECT TABLE_MODEL FROM information_schema.tables_config WHERE TABLE_SCHEMA = '{database}'",
    )
    assert model == [("DUP_KEYS",)]
    assert tables_in(starrocks, database) == {NAME}


def test_a_new_key_column_the_old_table_lacks_or_holds_as_text_is_filled_and_cast(starrocks, database):
    before = {"id": {"type": "integer"}, "code": {"type": "string"}}
    sync(
        starrocks,
        database,
        [stream(NAME, before)],
        [record(NAME, {"id": 1, "code": "7"}), record(NAME, {"id": 2, "code": "8"})],
    )
    after = {"id": {"type": "integer"}, "code": {"type": "integer"}, "k2": {"type": "integer"}}
    entry = stream(NAME, after, mode="append_dedup", primary_key=[["code"], ["k2"]], sync_id=2)
    sync(starrocks, database, [entry], [record(NAME, {"id": 3, "code": 9, "k2": 1})])
    assert query(starrocks, f"SELECT `code`, `k2`, `id` FROM `{database}`.`{NAME}` ORDER BY `code`") == [
        (7, 0, 1), (8, 0, 2), (9, 1, 3),
    ]  # fmt: skip
    types = {row[0]: row[1].lower() for row in query(starrocks, f"DESC `{database}`.`{NAME}`")}
    assert (types["code"], types["k2"]) == ("bigint", "bigint")


@pytest.mark.parametrize("swapped", [False, True])
def test_a_rebuild_interrupted_before_or_after_its_swap_is_cleaned_up_by_the_next_sync(
    starrocks, database, swapped
):
    properties = {"id": {"type": "integer"}, "name": {"type": "string"}}
    sync(starrocks, database, [stream(NAME, properties)], [record(NAME, {"id": 1, "name": "a"})])
    dedup = stream(NAME, properties, mode="append_dedup", primary_key=[["id"]], sync_id=2)
    if swapped:  # the table was rebuilt and swapped in; the old one (now __airbyte_new) was not dropped yet
        sync(starrocks, database, [dedup], [])
        query(starrocks, f"CREATE TABLE `{database}`.`{NAME}__airbyte_new` (`id` BIGINT) DUPLICATE KEY(`id`) "
                         'DISTRIBUTED BY HASH(`id`) PROPERTIES ("replication_num" = "1")')  # fmt: skip
    else:  # the copy had begun: a partial new table
        query(starrocks, f"CREATE TABLE `{database}`.`{NAME}__airbyte_new` (`id` BIGINT NOT NULL) PRIMARY KEY(`id`) "
                         'DISTRIBUTED BY HASH(`id`) PROPERTIES ("replication_num" = "1")')  # fmt: skip
    query(starrocks, f"INSERT INTO `{database}`.`{NAME}__airbyte_new` (`id`) VALUES (99)")
    sync(starrocks, database, [dedup], [record(NAME, {"id": 2, "name": "b"})])
    assert query(starrocks, f"SELECT `id`, `name` FROM `{database}`.`{NAME}` ORDER BY `id`") == [
        (1, "a"),
        (2, "b"),
    ]
    assert tables_in(starrocks, database) == {NAME}


# ---- 4. names (issue 13 item 4, built by the "tables" helper) -------------------------------------------


def test_non_ascii_characters_become_underscores_and_do_not_collide(starrocks, database):
    properties = {"spøcial": {"type": "string"}, "søn": {"type": "string"}, "sn": {"type": "string"}}
    sync(
        starrocks,
        database,
        [stream(NAME, properties)],
        [record(NAME, {"spøcial": "x", "søn": "y", "sn": "z"})],
    )
    assert query(starrocks, f"SELECT `sp_cial`, `s_n`, `sn` FROM `{database}`.`{NAME}`") == [("x", "y", "z")]


def test_switching_a_string_keyed_stream_to_dedup_rebuilds_it_on_the_surrogate_key(starrocks, database):
    schema = {"id": {"type": "string"}, "updated_at": {"type": "integer"}, "v": {"type": "string"}}
    append = stream(NAME, schema, generation_id=1, minimum_generation_id=0, sync_id=1)
    dedup = stream(
        NAME, schema, mode="append_dedup", primary_key=[["id"]], cursor=["updated_at"],
        generation_id=2, minimum_generation_id=0, sync_id=2,
    )  # fmt: skip
    old = [record(NAME, {"id": "a", "updated_at": 1, "v": "old"}, emitted_at=100)]
    old.append(record(NAME, {"id": "a", "updated_at": 2, "v": "older-but-newer"}, emitted_at=100))
    old.append(record(NAME, {"id": "b", "updated_at": 1, "v": "b"}, emitted_at=100))
    sync(starrocks, database, [append], old)
    sync(
        starrocks, database, [dedup], [record(NAME, {"id": "a", "updated_at": 3, "v": "new"}, emitted_at=200)]
    )
    # The copy keeps the newest old row per key; the new record then replaces it (fields, generation, sync id,
    # extracted_at as dump() gives them).
    assert dump(starrocks, database, ["id", "updated_at", "v"]) == [
        ("a", 3, "new", 2, 2, 200),
        ("b", 1, "b", 1, 1, 100),
    ]
    # Later records of the same key land on the same surrogate key as the copied rows.
    sync(
        starrocks, database, [dedup], [record(NAME, {"id": "b", "updated_at": 5, "v": "b2"}, emitted_at=300)]
    )
    assert dump(starrocks, database, ["id", "updated_at", "v"]) == [
        ("a", 3, "new", 2, 2, 200),
        ("b", 5, "b2", 2, 2, 300),
    ]
