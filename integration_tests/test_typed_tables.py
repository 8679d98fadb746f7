"""Typed tables against StarRocks (the emulator, or a real one with STARROCKS_HOST): TableManager prepares the
tables, RowShaper shapes the rows, a Stream Load sends them; `DESC` and `SELECT` check what landed."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

import orjson
import pytest
from airbyte_cdk.models import ConfiguredAirbyteCatalogSerializer

from destination_starrocks.errors import ConfigError
from destination_starrocks.naming import database_name
from destination_starrocks.spec import StarRocksConfig
from destination_starrocks.sql import SqlClient
from destination_starrocks.tables import LoadTarget, TableManager
from destination_starrocks.type_mapping import parse_type
from integration_tests.connector import catalog, connect, stream

EMITTED_AT = 1_700_000_000_000


def configured(entry: dict[str, Any]) -> Any:
    return ConfiguredAirbyteCatalogSerializer.load(catalog(entry)).streams[0]


@pytest.fixture
def manager(starrocks, fresh_database):  # noqa: ANN001, ANN201
    config = StarRocksConfig(
        host=starrocks.host,
        query_port=starrocks.query_port,
        http_port=starrocks.http_port,
        username=starrocks.user,
        password=starrocks.password,
        database=fresh_database,
        table_properties={"replication_num": "1"},
    )
    with SqlClient.from_config(config) as sql:
        yield TableManager(sql, config)
        sql.execute(f"DROP DATABASE IF EXISTS `{fresh_database}`")


def load(starrocks, target: LoadTarget, records: list[dict]) -> dict:  # noqa: ANN001
    rows = [target.shaper.shape(dict(r), EMITTED_AT) for r in records]
    headers = {
        "label": f"t_{uuid.uuid4().hex}",
        "format": "json",
        "strip_outer_array": "true",
        "Expect": "100-continue",
        **target.headers,
    }
    response = starrocks.http.stream_load(
        target.database, target.load_table, b"[" + b",".join(rows) + b"]", headers
    )
    answer = response.json()
    assert answer["Status"] in ("Success", "Publish Timeout"), answer
    assert answer.get("NumberFilteredRows", 0) == 0, answer
    return answer


def query(starrocks, sql: str) -> list[tuple]:  # noqa: ANN001
    with connect(starrocks) as conn, conn.cursor() as cursor:
        cursor.execute(sql)
        return list(cursor.fetchall())


def desc(starrocks, db: str, table: str) -> dict[str, tuple[str, bool]]:  # noqa: ANN001
    """column -> (type spelled as the connector writes it, nullable)."""
    rows = query(starrocks, f"DESC `{db}`.`{table.replace('`', '``')}`")
    return {str(r[0]): (parse_type(str(r[1])).text, str(r[2]).upper() in ("YES", "TRUE")) for r in rows}


def meta(value: Any) -> dict:
    return orjson.loads(value) if isinstance(value, (str, bytes)) else value


ALL_TYPES = {
    "s": {"type": "string"},
    "d": {"type": "string", "format": "date"},
    "ts": {"type": "string", "format": "date-time"},
    "t": {"type": "string", "format": "time"},
    "i": {"type": "integer"},
    "big": {"type": "integer", "airbyte_type": "big_integer"},
    "n": {"type": "number"},
    "dec": {"type": "number", "airbyte_type": "big_number"},
    "b": {"type": "boolean"},
    "o": {"type": "object"},
    "a": {"type": "array"},
    "u": {"type": ["string", "integer"]},
}


def test_every_type_lands_in_its_column_and_bad_values_are_nulled_with_a_change(starrocks, manager):
    target = manager.prepare(configured(stream("all_types", ALL_TYPES)))
    columns = desc(starrocks, target.database, target.table)
    assert {name: columns[name][0] for name in ALL_TYPES} == {
        "s": "VARCHAR(65533)", "d": "DATE", "ts": "DATETIME", "t": "VARCHAR(65533)", "i": "BIGINT",
        "big": "LARGEINT", "n": "DOUBLE", "dec": "DECIMAL(38,9)", "b": "BOOLEAN", "o": "JSON", "a": "JSON",
        "u": "JSON",
    }  # fmt: skip
    assert columns["_airbyte_raw_id"][0] == "VARCHAR(36)" and columns["_airbyte_meta"][0] == "JSON"
    assert (
        columns["_airbyte_extracted_at"][0] == "DATETIME" and columns["_airbyte_generation_id"][0] == "BIGINT"
    )
    good = {
        "s": "héllo", "d": "2024-02-29", "ts": "2024-01-01T12:00:00+02:00", "t": "10:11:12", "i": 42,
        "big": "123456789012345678901234567890", "n": 1.5, "dec": "12.5", "b": True, "o": {"k": [1, 2]},
        "a": [1, "x"], "u": 7, "row": 1,
    }  # fmt: skip
    bad = {
        "s": {"not": "a string"}, "d": "2023-02-30", "ts": "not a time", "t": "99:99", "i": "x", "big": 1.5,
        "n": "NaN", "dec": "x" , "b": "maybe", "o": None, "row": 2,
    }  # fmt: skip
    load(starrocks, target, [good, bad])
    names = list(ALL_TYPES)
    select = ", ".join(f"`{n}`" for n in names)
    rows = query(
        starrocks, f"SELECT {select}, `_airbyte_meta` FROM `{target.database}`.`all_types` ORDER BY `i` DESC"
    )
    assert len(rows) == 2
    good_row, bad_row = (dict(zip([*names, "meta"], r, strict=True)) for r in rows)
    assert good_row["s"] == "héllo" and good_row["d"] == dt.date(2024, 2, 29)
    assert good_row["ts"] == dt.datetime(2024, 1, 1, 10, 0, 0)  # converted to UTC
    assert good_row["t"] == "10:11:12" and good_row["i"] == 42
    assert int(good_row["big"]) == 123456789012345678901234567890
    assert good_row["n"] == 1.5 and Decimal(str(good_row["dec"])) == Decimal("12.5")
    assert bool(good_row["b"]) is True
    assert (
        meta(good_row["o"]) == {"k": [1, 2]} and meta(good_row["a"]) == [1, "x"] and meta(good_row["u"]) == 7
    )
    assert meta(good_row["meta"]) == {"changes": [], "sync_id": 1}
    # The bad row is kept: a string column keeps any value as its JSON text; others are NULL with a change.
    assert bad_row["s"] == '{"not":"a string"}'
    assert all(bad_row[n] is None for n in ("d", "ts", "t", "i", "big", "n", "dec", "b", "o"))
    changes = {c["field"]: (c["change"], c["reason"]) for c in meta(bad_row["meta"])["changes"]}
    assert set(changes) == {"d", "ts", "t", "i", "big", "n", "dec", "b"}
    assert set(changes.values()) == {("NULLED", "DESTINATION_SERIALIZATION_ERROR")}


def test_hostile_stream_and_field_names_are_just_odd_names(starrocks, manager):
    hostile = "x`; DROP DATABASE y; --"
    fields = {
        hostile: {"type": "string"},
        "Id": {"type": "integer"},
        "id": {"type": "integer"},
        "é 1": {"type": "boolean"},
    }
    target = manager.prepare(configured(stream(hostile, fields)))
    assert target.table == "x___DROP_DATABASE_y____"
    load(starrocks, target, [{hostile: "v", "Id": 1, "id": 2, "é 1": False}])
    columns = desc(starrocks, target.database, target.table)
    assert "x___DROP_DATABASE_y____" in columns and "e_1" in columns
    id_columns = sorted(c for c in columns if c.lower().startswith("id"))
    assert id_columns[0] == "Id" and id_columns[1].startswith("id_") and len(id_columns) == 2
    rows = query(
        starrocks, f"SELECT `x___DROP_DATABASE_y____`, `e_1` FROM `{target.database}`.`{target.table}`"
    )
    assert rows == [("v", 0)] or rows == [("v", False)]
    assert query(starrocks, f"SHOW DATABASES LIKE '{target.database}'")  # still there


def test_dedup_table_keeps_newest_by_cursor_across_loads_and_deletes_cdc_rows(starrocks, manager):
    properties = {
        "id": {"type": "integer"},
        "region": {"type": "string"},
        "doc": {"type": "object", "properties": {"sku": {"type": "string"}}},
        "updated": {"type": "integer"},
        "v": {"type": "string"},
        "_ab_cdc_deleted_at": {"type": ["null", "string"], "format": "date-time"},
    }
    entry = stream(
        "orders",
        properties,
        mode="append_dedup",
        primary_key=[["id"], ["region"], ["doc", "sku"]],
        cursor=["updated"],
    )
    target = manager.prepare(configured(entry))
    assert target.dedup and target.headers == {"merge_condition": "updated"}  # no `columns` header
    columns = desc(starrocks, target.database, target.table)
    # A string key could outgrow StarRocks' 128-byte key limit: the table keys on a hash of it.
    assert list(columns)[:4] == ["_airbyte_pk", "id", "region", "doc_sku"]
    assert columns["_airbyte_pk"][0] == "LARGEINT"
    assert [columns[c][1] for c in ("_airbyte_pk", "id", "region", "doc_sku")] == [False] * 4

    def rec(i: int, updated: int, v: str, deleted: str | None = None) -> dict:
        return {"id": i, "region": "eu", "doc": {"sku": f"s{i}"}, "updated": updated, "v": v,
                "_ab_cdc_deleted_at": deleted}  # fmt: skip

    load(starrocks, target, [rec(1, 5, "new"), rec(2, 1, "two"), rec(3, 1, "three")])
    # An older version of key 1 arrives in a later load: merge_condition keeps the newer stored row.
    load(starrocks, target, [rec(1, 3, "old"), rec(2, 2, "two v2"), rec(3, 9, "", "2024-01-01T00:00:00Z")])
    rows = query(starrocks, f"SELECT `id`, `v`, `updated` FROM `{target.database}`.`orders` ORDER BY `id`")
    assert rows == [(1, "new", 5), (2, "two v2", 2)]


def test_null_primary_key_fails_with_the_stream_and_field(manager):
    entry = stream("k", {"id": {"type": "integer"}}, mode="append_dedup", primary_key=[["id"]])
    target = manager.prepare(configured(entry))
    with pytest.raises(ConfigError, match="'k'.*'id'"):
        target.shaper.shape({"id": None}, EMITTED_AT)


def test_schema_evolution_adds_columns_keeps_vanished_ones_and_converts_to_kept_types(starrocks, manager):
    v1 = {"id": {"type": "integer"}, "gone": {"type": "string"}, "label": {"type": "string"}}
    first = manager.prepare(configured(stream("evolve", v1)))
    load(starrocks, first, [{"id": 1, "gone": "g", "label": "one"}])
    # Next sync: a new field, a vanished one, and `label` now claims to be an integer (cannot be narrowed).
    v2 = {"id": {"type": "integer"}, "label": {"type": "integer"}, "added": {"type": "boolean"}}
    second = manager.prepare(configured(stream("evolve", v2, generation_id=1, sync_id=2)))
    columns = desc(starrocks, second.database, second.table)
    assert columns["added"] == ("BOOLEAN", True) and columns["gone"][0] == "VARCHAR(65533)"
    assert columns["label"][0] == "VARCHAR(65533)"
    load(starrocks, second, [{"id": 2, "label": 22, "added": True}])
    rows = query(
        starrocks, f"SELECT `id`, `gone`, `label`, `added` FROM `{second.database}`.`evolve` ORDER BY `id`"
    )
    assert [(r[0], r[1], r[2], None if r[3] is None else bool(r[3])) for r in rows] == [
        (1, "g", "one", None),
        (2, None, "22", True),
    ]


def test_truncate_refresh_loads_into_staging_and_swaps_it_in_on_complete(starrocks, manager):
    first = manager.prepare(
        configured(stream("snap", mode="overwrite", generation_id=1, minimum_generation_id=1))
    )
    assert first.staging and first.load_table != first.table
    load(starrocks, first, [{"id": 1, "name": "a"}])
    manager.finish(first, complete=True)  # first sync: staging is renamed into place
    second = manager.prepare(
        configured(stream("snap", mode="overwrite", generation_id=2, minimum_generation_id=2))
    )
    load(starrocks, second, [{"id": 2, "name": "b"}, {"id": 3, "name": "c"}])
    table = f"`{second.database}`.`snap`"
    assert query(starrocks, f"SELECT `id` FROM {table}") == [(1,)]  # readers still see the old rows
    manager.finish(second, complete=False)  # a failed sync leaves the final table alone
    assert query(starrocks, f"SELECT `id` FROM {table}") == [(1,)]
    retry = TableManager(manager._sql, manager._config)  # the retried attempt of generation 2
    again = retry.prepare(
        configured(stream("snap", mode="overwrite", generation_id=2, minimum_generation_id=2))
    )
    retry.finish(again, complete=True)
    assert sorted(query(starrocks, f"SELECT `id`, `_airbyte_generation_id` FROM {table}")) == [(2, 2), (3, 2)]
    tables = {r[0] for r in query(starrocks, f"SHOW TABLES FROM `{second.database}`")}
    assert tables == {"snap"}


def test_append_stream_into_an_existing_primary_key_table_rebuilds_it_as_duplicate_key(starrocks, manager):
    first = manager.prepare(configured(stream("m", mode="append_dedup", primary_key=[["id"]])))
    load(starrocks, first, [{"id": 1, "name": "x"}])
    target = TableManager(manager._sql, manager._config).prepare(configured(stream("m", mode="append")))
    model = query(
        starrocks,
        "SELECT TABLE_MODEL FROM information_schema.tables_config "
        f"WHERE TABLE_SCHEMA = '{target.database}' AND TABLE_NAME = 'm'",
    )
    assert not target.dedup and model == [("DUP_KEYS",)]  # rebuilt in place (table_rebuild.py)
    load(starrocks, target, [{"id": 1, "name": "y"}])
    assert sorted(query(starrocks, f"SELECT `id`, `name` FROM `{target.database}`.`m`")) == [
        (1, "x"),
        (1, "y"),
    ]


def test_namespaces_become_databases(starrocks, manager, fresh_database):
    other = f"{fresh_database}_ns"
    target = manager.prepare(configured(stream("s", namespace=other)))
    try:
        assert target.database == other
        load(starrocks, target, [{"id": 1, "name": "x"}])
        assert query(starrocks, f"SELECT `id` FROM `{other}`.`s`") == [(1,)]
    finally:
        query(starrocks, f"DROP DATABASE IF EXISTS `{other}`")


def test_a_table_created_by_hand_keeps_working_and_its_narrow_columns_are_widened(starrocks, manager):
    db = manager._config.database
    manager._sql.execute(f"CREATE DATABASE IF NOT EXISTS `{db}`")
    manager._sql.execute(
        f"CREATE TABLE `{db}`.`legacy` (`id` INT NULL, `name` VARCHAR(10) NULL, `flag` BOOLEAN NULL) "
        'DUPLICATE KEY(`id`) DISTRIBUTED BY HASH(`id`) PROPERTIES ("replication_num" = "1")'
    )
    manager._sql.execute(f"INSERT INTO `{db}`.`legacy` VALUES (1, 'old', true)")
    properties = {"id": {"type": "integer"}, "name": {"type": "string"}, "flag": {"type": "integer"}}
    target = manager.prepare(configured(stream("legacy", properties)))
    columns = desc(starrocks, db, "legacy")
    # INT -> BIGINT and VARCHAR(10) -> VARCHAR(65533) are widenings StarRocks' MODIFY COLUMN allows;
    # BOOLEAN cannot become BIGINT, so `flag` keeps its type; the _airbyte_* columns are added.
    assert (columns["id"][0], columns["name"][0], columns["flag"][0]) == (
        "BIGINT",
        "VARCHAR(65533)",
        "BOOLEAN",
    )
    assert {"_airbyte_raw_id", "_airbyte_meta", "_airbyte_extracted_at", "_airbyte_generation_id"} <= set(
        columns
    )
    load(starrocks, target, [{"id": 2**40, "name": "a much longer name", "flag": 3}])
    got = query(starrocks, f"SELECT `id`, `name`, `flag`, `_airbyte_meta` FROM `{db}`.`legacy` ORDER BY `id`")
    assert [r[:2] for r in got] == [(1, "old"), (2**40, "a much longer name")]
    assert got[1][2] is None
    assert meta(got[1][3])["changes"] == [
        {"field": "flag", "change": "NULLED", "reason": "DESTINATION_TYPECAST_ERROR"}
    ]


def test_number_keys_get_a_key_starrocks_accepts_and_equal_numbers_stay_one_key(starrocks, manager):
    # Airbyte's source-file declares every integer CSV column as `number`. Before, these keys became
    # DECIMAL(38,9) key columns, which StarRocks refuses at CREATE TABLE ("primary key column[year] type not
    # supported").
    properties = {k: {"type": "number"} for k in ("year", "month", "day", "hour")}
    properties["v"] = {"type": "string"}
    entry = stream(
        "weather", properties, mode="append_dedup", primary_key=[["year"], ["month"], ["day"], ["hour"]]
    )
    target = manager.prepare(configured(entry))
    columns = desc(starrocks, target.database, target.table)
    assert columns["year"] == ("DOUBLE", False) and columns["_airbyte_pk"] == ("LARGEINT", False)
    load(starrocks, target, [{"year": 2013, "month": 1, "day": 1, "hour": 0, "v": "int"}])
    load(starrocks, target, [{"year": 2013.0, "month": 1.0, "day": 1e0, "hour": 0.0, "v": "float"}])
    load(starrocks, target, [{"year": "2.013e3", "month": "1", "day": 1, "hour": 0, "v": "text"},
                             {"year": 2013, "month": 1, "day": 1, "hour": 1, "v": "next hour"}])  # fmt: skip
    rows = query(starrocks, f"SELECT `year`, `hour`, `v` FROM `{target.database}`.`weather` ORDER BY `hour`")
    assert rows == [(2013.0, 0.0, "text"), (2013.0, 1.0, "next hour")]


def test_a_key_longer_than_128_bytes_lands_and_still_dedups(starrocks, manager):
    # Before: a 300-byte VARCHAR key failed every load ("primary key size exceed the limit."), for good.
    properties = {"url": {"type": "string"}, "region": {"type": "string"}, "v": {"type": "integer"}}
    entry = stream("pages", properties, mode="append_dedup", primary_key=[["url"], ["region"]], cursor=["v"])
    target = manager.prepare(configured(entry))
    long_url = "https://example.com/" + "p" * 280
    load(
        starrocks,
        target,
        [{"url": long_url, "region": "eu", "v": 1}, {"url": "short", "region": "eu", "v": 1}],
    )
    load(
        starrocks,
        target,
        [{"url": long_url, "region": "eu", "v": 2}, {"url": long_url, "region": "us", "v": 1}],
    )
    rows = query(
        starrocks, f"SELECT `url`, `region`, `v` FROM `{target.database}`.`pages` ORDER BY `url`, `region`"
    )
    assert rows == [(long_url, "eu", 2), (long_url, "us", 1), ("short", "eu", 1)]


def test_a_plain_string_cursor_keeps_the_newest_across_loads(starrocks, manager):
    # Before: merge_condition named the VARCHAR cursor, and StarRocks refuses every such load ("Merge condition
    # column has invalid type maybe bitmap/hll/percentile/json/varchar!").
    properties = {"id": {"type": "integer"}, "updated": {"type": "string"}, "v": {"type": "string"}}
    entry = stream("events", properties, mode="append_dedup", primary_key=[["id"]], cursor=["updated"])
    target = manager.prepare(configured(entry))
    load(starrocks, target, [{"id": 1, "updated": "2024-01-05T10:00:00Z", "v": "newest"},
                             {"id": 2, "updated": "2024-01-01T00:00:00Z", "v": "two"}])  # fmt: skip
    # An older version of 1 arrives in a later load (a replay): the stored row keeps winning.
    load(starrocks, target, [{"id": 1, "updated": "2024-01-05T09:59:59Z", "v": "older"},
                             {"id": 2, "updated": "2024-01-02T00:00:00Z", "v": "two, newer"},
                             {"id": 3, "updated": None, "v": "no cursor"}])  # fmt: skip
    # A record with a null cursor never replaces one with a cursor (StarRocks' rule for merge_condition).
    load(starrocks, target, [{"id": 2, "updated": None, "v": "null cursor"}])
    rows = query(starrocks, f"SELECT `id`, `v` FROM `{target.database}`.`events` ORDER BY `id`")
    assert rows == [(1, "newest"), (2, "two, newer"), (3, "no cursor")]
    assert target.headers == {"merge_condition": "_airbyte_rank_updated"}


def test_names_starrocks_would_refuse_become_valid_and_never_collide(starrocks, manager, fresh_database):
    namespaces = ["_", "__x", "--sales", "данные"]
    try:
        for namespace in namespaces:
            target = manager.prepare(configured(stream("t", namespace=namespace)))
            load(starrocks, target, [{"id": 1, "name": namespace}])
            assert query(starrocks, f"SELECT `name` FROM `{target.database}`.`t`") == [(namespace,)]
        fields = {f: {"type": "string"} for f in ("spøcial", "søn", "sn", "__op", "__row", "___count___",
                                                  "__starrocks_shadow_x", "cafe\u0301", "caf\u00e9")}  # fmt: skip
        target = manager.prepare(configured(stream("odd names", fields)))
        load(starrocks, target, [{f: f for f in fields}])
        columns = desc(starrocks, target.database, target.table)
        assert {"sp_cial", "s_n", "sn"} <= set(columns) and "spcial" not in columns
        assert not {"__op", "__row", "___count___"} & {c.lower() for c in columns}
        assert not any(c.startswith("__starrocks_shadow_") for c in columns)
        # `é` written two ways is one field name in JSON only if the source sends it twice; both land apart.
        select = ", ".join(f"`{c}`" for c in ("sp_cial", "s_n", "sn"))
        assert query(starrocks, f"SELECT {select} FROM `{target.database}`.`{target.table}`") == [
            ("spøcial", "søn", "sn")
        ]
    finally:
        for namespace in namespaces:
            query(starrocks, f"DROP DATABASE IF EXISTS `{database_name(namespace)}` FORCE")
