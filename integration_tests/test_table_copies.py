"""Table copies: rebuilds onto the surrogate key for every key kind, and copies that apply exactly once.

Through the real entrypoint where a sync is the unit (issue 13's scenarios), through TableManager where a fault
must hit one statement. Against the emulator, or a real StarRocks with STARROCKS_HOST.
"""

from __future__ import annotations

import logging
from typing import Any

import pymysql
import pytest
from airbyte_cdk.models import ConfiguredAirbyteCatalogSerializer

from destination_starrocks.spec import StarRocksConfig
from destination_starrocks.sql import SqlClient
from destination_starrocks.tables import TableManager
from integration_tests.connector import (
    ConnectorRun,
    catalog,
    config_for,
    record,
    row_counts,
    run_connector,
    stream,
)
from integration_tests.test_conformance import query, tables_in

pytestmark = pytest.mark.timeout(300)

NAME = "t"


def sync(starrocks, database: str, entry: dict, lines: list[bytes], **config: Any) -> ConnectorRun:  # noqa: ANN001
    run = run_connector("write", config_for(starrocks, database=database, **config), catalog(entry), lines)
    assert run.returncode == 0, (run.errors, run.stderr[-3000:])
    return run


def table_key(starrocks, database: str, table: str = NAME) -> tuple[str, list[str]]:  # noqa: ANN001
    ((model, keys),) = query(
        starrocks,
        "SELECT TABLE_MODEL, PRIMARY_KEY FROM information_schema.tables_config "
        f"WHERE TABLE_SCHEMA = '{database}' AND TABLE_NAME = '{table}'",
    )
    return model, [k.strip(" `") for k in keys.split(",") if k.strip()]


@pytest.fixture
def database(starrocks, fresh_database):  # noqa: ANN001, ANN201
    yield fresh_database
    query(starrocks, f"DROP DATABASE IF EXISTS `{fresh_database}`")


def append_then_dedup(
    schema: dict, key: list[list[str]], cursor: list[str] | None = None
) -> tuple[dict, dict]:
    append = stream(NAME, schema, generation_id=1, minimum_generation_id=0, sync_id=1)
    dedup = stream(
        NAME, schema, mode="append_dedup", primary_key=key, cursor=cursor,
        generation_id=1, minimum_generation_id=0, sync_id=2,
    )  # fmt: skip
    return append, dedup


# ---- rebuilds onto the surrogate key ----------------------------------------------------------------------

# (key field schema, three old values of which the first two are one key, a new record's value of that key)
SURROGATE_KEYS = {
    "number": ({"type": "number"}, [2013, 2013.0, 7.5], 2.013e3),
    "big_number": ({"type": "number", "airbyte_type": "big_number"}, [10, "10.000", 0.25], 1e1),
    "object": (
        {"type": "object"},
        [{"a": 1, "b": [2]}, {"b": [2.0], "a": 1.0}, {"a": 2}],
        {"b": [2], "a": 1},
    ),
    "array": ({"type": "array"}, [[1, "x"], [1.0, "x"], ["x", 1]], [1, "x"]),
    "union": ({"type": ["string", "integer"]}, ["abc", "abc", 7], "abc"),
    "time": ({"type": "string", "format": "time"}, ["10:00:00", "10:00:00", "10:00:00+02:00"], "10:00:00"),
    "long string": ({"type": "string"}, ["u" * 300, "u" * 300, "é" * 100], "u" * 300),
}


@pytest.mark.parametrize("kind", list(SURROGATE_KEYS))
def test_an_append_stream_switched_to_dedup_on_a_key_sql_cannot_hold_is_rebuilt_on_the_surrogate_key(
    starrocks, database, kind
):
    field, (old_a, old_a_again, old_b), new_a = SURROGATE_KEYS[kind]
    schema = {"k": field, "v": {"type": "integer"}, "name": {"type": "string"}}
    append, dedup = append_then_dedup(schema, [["k"]], cursor=["v"])
    old = [
        record(NAME, {"k": old_a, "v": 1, "name": "a-old"}, emitted_at=100),
        record(NAME, {"k": old_a_again, "v": 2, "name": "a-newest"}, emitted_at=100),  # the same key, newer
        record(NAME, {"k": old_b, "v": 1, "name": "b"}, emitted_at=100),
    ]
    sync(starrocks, database, append, old)
    run = sync(starrocks, database, dedup, [])
    assert table_key(starrocks, database) == ("PRIMARY_KEYS", ["_airbyte_pk"])
    names = sorted(row[0] for row in query(starrocks, f"SELECT `name` FROM `{database}`.`{NAME}`"))
    assert names == ["a-newest", "b"]
    assert any("rebuilt" in line and "through the connector" in line for line in run.logs), run.logs
    # A later record of the copied key replaces its row: it hashes to the same _airbyte_pk.
    sync(starrocks, database, dedup, [record(NAME, {"k": new_a, "v": 3, "name": "a-later"}, emitted_at=200)])
    names = sorted(row[0] for row in query(starrocks, f"SELECT `name` FROM `{database}`.`{NAME}`"))
    assert names == ["a-later", "b"]
    assert tables_in(starrocks, database) == {NAME}


def test_a_rebuild_onto_the_surrogate_key_keeps_the_rebuild_rules(starrocks, database):
    """Newest by a string cursor (ranked), then extracted_at; CDC deletes left out; a NULL key gets the
    default; every old column kept; readers see the old table until the swap; a small batch size gives
    several loads."""
    schema = {
        "id": {"type": "string"},
        "updated": {"type": "string"},
        "v": {"type": "string"},
        "_ab_cdc_deleted_at": {"type": ["null", "string"], "format": "date-time"},
    }
    extra = {**schema, "gone": {"type": "string"}}  # a column the new schema drops
    append = stream(NAME, extra, generation_id=1, minimum_generation_id=0, sync_id=1)
    dedup = stream(
        NAME, schema, mode="append_dedup", primary_key=[["id"]], cursor=["updated"],
        generation_id=1, minimum_generation_id=0, sync_id=2,
    )  # fmt: skip

    def row(ident: Any, updated: Any, v: str, at: int, deleted: bool = False) -> bytes:
        data = {"id": ident, "updated": updated, "v": v, "gone": f"g-{v}"}
        if deleted:
            data["_ab_cdc_deleted_at"] = "2024-01-01T00:00:00Z"
        return record(NAME, data, emitted_at=at)

    history = [
        row("a", "2024-01-02", "a2", 100), row("a", "2024-01-03", "a3", 100), row("a", "2024-01-01", "a1", 300),
        row("b", "2024-01-01", "b1", 100), row("b", "2024-01-02", "", 100, deleted=True),
        row("c", None, "c1", 100), row("c", None, "c2", 200),
        row(None, "2024-01-01", "n", 100),
    ] + [row(f"x{i}", "2024-01-01", f"x{i}", 100) for i in range(7)]  # fmt: skip
    sync(starrocks, database, append, history)
    with row_counts(starrocks, f"`{database}`.`{NAME}`") as counts:
        run = sync(starrocks, database, dedup, [], batch_size=3)
    assert counts and set(counts) <= {len(history), 10}, sorted(set(counts))  # old table, then the new one
    got = query(
        starrocks,
        f"SELECT `id`, `v`, `gone`, `_airbyte_rank_updated` FROM `{database}`.`{NAME}` ORDER BY `id`",
    )
    assert [(i, v, g) for i, v, g, _ in got][:3] == [
        ("", "n", "g-n"),
        ("a", "a3", "g-a3"),
        ("c", "c2", "g-c2"),
    ]
    assert len(got) == 10 and all(r[0] != "b" for r in got)
    assert got[1][3] is not None and got[2][3] is None  # ranked from the cursor; a NULL cursor has no rank
    line = next(line for line in run.logs if "rebuilt" in line)
    assert "15 rows copied into 10" in line and "4 Stream Loads" in line, line
    # merge_condition on the rank: an older cursor for "a" does not replace the copied row, a newer one does
    sync(starrocks, database, dedup, [row("a", "2024-01-02", "older", 400)])
    sync(starrocks, database, dedup, [row("c", "2024-01-01", "c3", 400)])
    got = dict(query(starrocks, f"SELECT `id`, `v` FROM `{database}`.`{NAME}` WHERE `id` IN ('a', 'c')"))
    assert got == {"a": "a3", "c": "c3"}


def test_a_changed_string_key_is_rebuilt_on_the_new_key(starrocks, database):
    schema = {"a": {"type": "string"}, "b": {"type": "integer"}, "v": {"type": "string"}}
    first = stream(NAME, schema, mode="append_dedup", primary_key=[["a"]], sync_id=1)
    sync(
        starrocks,
        database,
        first,
        [record(NAME, {"a": "x", "b": 1, "v": "x1"}), record(NAME, {"a": "y", "b": 1, "v": "y1"})],
    )
    second = stream(NAME, schema, mode="append_dedup", primary_key=[["a"], ["b"]], sync_id=2)
    sync(starrocks, database, second, [record(NAME, {"a": "x", "b": 2, "v": "x2"})])
    assert sorted(query(starrocks, f"SELECT `a`, `b`, `v` FROM `{database}`.`{NAME}`")) == [
        ("x", 1, "x1"), ("x", 2, "x2"), ("y", 1, "y1"),
    ]  # fmt: skip
    sync(
        starrocks, database, second, [record(NAME, {"a": "y", "b": 1, "v": "y2"})]
    )  # lands on the copied row
    assert sorted(query(starrocks, f"SELECT `a`, `b`, `v` FROM `{database}`.`{NAME}`"))[-1] == ("y", 1, "y2")


def test_a_natural_varchar_key_from_an_earlier_version_is_rebuilt_before_a_long_key_arrives(
    starrocks, database
):
    """Issue 13 item 4: the table an earlier version made (the key itself as a VARCHAR PRIMARY KEY) would fail
    the sync at the first key over 128 bytes; the first sync that sees it rebuilds it onto `_airbyte_pk`."""
    query(starrocks, f"CREATE DATABASE `{database}`")
    query(
        starrocks,
        f"CREATE TABLE `{database}`.`{NAME}` (`url` VARCHAR(65533) NOT NULL, `_airbyte_raw_id` VARCHAR(36) NOT NULL, "
        "`_airbyte_extracted_at` DATETIME NOT NULL, `_airbyte_meta` JSON NULL, `_airbyte_generation_id` BIGINT NULL, "
        '`hits` BIGINT NULL) PRIMARY KEY(`url`) DISTRIBUTED BY HASH(`url`) PROPERTIES ("replication_num" = "1")',
    )
    query(
        starrocks,
        f"INSERT INTO `{database}`.`{NAME}` VALUES ('https://a', 'r1', '2024-01-01 00:00:00', NULL, 1, 1), "
        "('https://b', 'r2', '2024-01-01 00:00:00', NULL, 1, 5)",
    )
    schema = {"url": {"type": "string"}, "hits": {"type": "integer"}}
    entry = stream(NAME, schema, mode="append_dedup", primary_key=[["url"]], sync_id=2)
    long_url = "https://example.com/" + "p" * 200
    run = sync(
        starrocks,
        database,
        entry,
        [record(NAME, {"url": long_url, "hits": 9}), record(NAME, {"url": "https://a", "hits": 2})],
    )
    assert table_key(starrocks, database) == ("PRIMARY_KEYS", ["_airbyte_pk"])
    assert sorted(query(starrocks, f"SELECT `url`, `hits` FROM `{database}`.`{NAME}`")) == [
        ("https://a", 2), ("https://b", 5), (long_url, 9),
    ]  # fmt: skip
    assert any("rebuilt" in line and "(url)" in line for line in run.logs), run.logs
    assert tables_in(starrocks, database) == {NAME}


def test_a_surrogate_rebuild_interrupted_before_its_swap_is_cleaned_up_by_the_next_sync(starrocks, database):
    schema = {"id": {"type": "string"}, "v": {"type": "string"}}
    append, dedup = append_then_dedup(schema, [["id"]])
    sync(starrocks, database, append, [record(NAME, {"id": "a", "v": "1"})])
    query(starrocks, f"CREATE TABLE `{database}`.`{NAME}__airbyte_new` (`_airbyte_pk` LARGEINT NOT NULL, `id` VARCHAR(10)) "
                     'PRIMARY KEY(`_airbyte_pk`) DISTRIBUTED BY HASH(`_airbyte_pk`) PROPERTIES ("replication_num" = "1")')  # fmt: skip
    query(starrocks, f"INSERT INTO `{database}`.`{NAME}__airbyte_new` VALUES (1, 'partial')")
    sync(starrocks, database, dedup, [record(NAME, {"id": "b", "v": "2"})])
    assert sorted(query(starrocks, f"SELECT `id`, `v` FROM `{database}`.`{NAME}`")) == [
        ("a", "1"),
        ("b", "2"),
    ]
    assert tables_in(starrocks, database) == {NAME}


# ---- copies as one INSERT apply exactly once ---------------------------------------------------------------


class LosesAnInsertAnswer(SqlClient):
    """A SqlClient whose connection breaks on the first `INSERT INTO` copy: after StarRocks ran it (the answer
    is lost) or before it reached StarRocks. Everything else is the real client, retries included."""

    def __init__(self, config: StarRocksConfig, after_it_ran: bool) -> None:
        super().__init__(config)
        self.after_it_ran = after_it_ran
        self.lost = 0

    def _open(self, read_timeout: int) -> Any:  # every connection the client opens, copies' own included
        return _Connection(super()._open(read_timeout), self)


class _Connection:
    def __init__(self, conn: Any, owner: LosesAnInsertAnswer) -> None:
        self._conn, self._owner = conn, owner

    def cursor(self, *args: Any) -> _Cursor:
        return _Cursor(self._conn.cursor(*args), self._owner, self._conn)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)


class _Cursor:
    def __init__(self, cursor: Any, owner: LosesAnInsertAnswer, conn: Any) -> None:
        self._cursor, self._owner, self._conn = cursor, owner, conn

    def __enter__(self) -> _Cursor:
        return self

    def __exit__(self, *exc: object) -> None:
        self._cursor.close()

    def execute(self, sql: str, args: Any = None) -> int:
        if sql.startswith("INSERT INTO") and not self._owner.lost:
            self._owner.lost += 1
            if self._owner.after_it_ran:
                self._cursor.execute(sql, args)
            self._conn.close()
            raise pymysql.err.OperationalError(2013, "Lost connection to MySQL server during query")
        return self._cursor.execute(sql, args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cursor, name)


def prepare_with(starrocks, database: str, entry: dict, after_it_ran: bool) -> LosesAnInsertAnswer:  # noqa: ANN001
    config = StarRocksConfig.model_validate(config_for(starrocks, database=database))
    sql = LosesAnInsertAnswer(config, after_it_ran)
    with sql:
        TableManager(sql, config).prepare(ConfiguredAirbyteCatalogSerializer.load(catalog(entry)).streams[0])
    return sql


@pytest.mark.parametrize("after_it_ran", [True, False], ids=["answer-lost", "statement-lost"])
def test_a_rebuild_into_an_append_table_whose_insert_answer_is_lost_copies_each_row_once(
    starrocks, database, after_it_ran, caplog
):
    schema = {"id": {"type": "integer"}, "v": {"type": "string"}}
    dedup = stream(NAME, schema, mode="append_dedup", primary_key=[["id"]], sync_id=1)
    sync(starrocks, database, dedup, [record(NAME, {"id": i, "v": f"v{i}"}) for i in range(3)])
    append = stream(NAME, schema, sync_id=2)
    with caplog.at_level(logging.WARNING, logger="airbyte"):
        sql = prepare_with(starrocks, database, append, after_it_ran)
    assert sql.lost == 1
    assert table_key(starrocks, database) == ("DUP_KEYS", [])
    assert sorted(query(starrocks, f"SELECT `id` FROM `{database}`.`{NAME}`")) == [(0,), (1,), (2,)]
    state = "VISIBLE" if after_it_ran else "UNKNOWN"
    assert any(f"the label is {state}" in m for m in caplog.messages), caplog.messages
    assert tables_in(starrocks, database) == {NAME}


def test_a_fold_whose_insert_answer_is_lost_appends_each_row_once(starrocks, database):
    schema = {"id": {"type": "integer"}, "v": {"type": "string"}}
    sync(starrocks, database, stream(NAME, schema, sync_id=1), [record(NAME, {"id": 1, "v": "kept"})])
    # The rows an interrupted refresh left in its staging table (what a killed truncate leaves behind).
    refresh = stream(NAME, schema, generation_id=2, minimum_generation_id=2, sync_id=2)
    run = run_connector(
        "write", config_for(starrocks, database=database), catalog(refresh),
        [record(NAME, {"id": 2, "v": "acked"})], end_status=None,
    )  # fmt: skip
    assert run.returncode != 0 and f"{NAME}__airbyte_tmp" in tables_in(starrocks, database)
    sql = prepare_with(
        starrocks, database, stream(NAME, schema, generation_id=3, sync_id=3), after_it_ran=True
    )
    assert sql.lost == 1
    assert sorted(query(starrocks, f"SELECT `id`, `v` FROM `{database}`.`{NAME}`")) == [
        (1, "kept"),
        (2, "acked"),
    ]
    assert tables_in(starrocks, database) == {NAME}


def test_a_copy_label_is_fresh_for_every_attempt(starrocks, database):
    """A rebuild started again by a later sync (its new table dropped) must not hear its old label."""
    schema = {"id": {"type": "integer"}}
    sync(starrocks, database, stream(NAME, schema, sync_id=1), [record(NAME, {"id": 1})])
    for sync_id, mode in ((2, "append_dedup"), (3, "append"), (4, "append_dedup")):
        entry = stream(
            NAME, schema, mode=mode, primary_key=[["id"]] if mode == "append_dedup" else None, sync_id=sync_id
        )
        sync(starrocks, database, entry, [])
    labels = query(
        starrocks,
        f"SELECT LABEL FROM information_schema.loads WHERE DB_NAME = '{database}' AND TYPE = 'INSERT'",
    )
    assert len(labels) == 3 and len(set(labels)) == 3  # random per attempt (labels.new_run_token)


def test_a_streamed_query_yields_rows_as_they_come_and_can_be_left_early(starrocks, database):
    config = StarRocksConfig.model_validate(config_for(starrocks, database=database))
    query(starrocks, f"CREATE DATABASE `{database}`")
    query(starrocks, f"CREATE TABLE `{database}`.`n` (`i` BIGINT) DUPLICATE KEY(`i`) DISTRIBUTED BY HASH(`i`) "
                     'PROPERTIES ("replication_num" = "1")')  # fmt: skip
    values = ", ".join(f"({i})" for i in range(5000))
    query(starrocks, f"INSERT INTO `{database}`.`n` VALUES {values}")
    with SqlClient(config) as sql:
        rows = sql.stream(f"SELECT `i` FROM `{database}`.`n` ORDER BY `i`")
        assert [next(rows) for _ in range(3)] == [(0,), (1,), (2,)]
        rows.close()  # left early: its connection is closed without reading the other 4997 rows
        assert sum(1 for _ in sql.stream(f"SELECT `i` FROM `{database}`.`n`")) == 5000
        assert sql.query(f"SELECT COUNT(*) FROM `{database}`.`n`") == [(5000,)]  # the client's own connection
