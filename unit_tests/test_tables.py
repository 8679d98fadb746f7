"""TableManager's decisions and SQL, against a small in-memory stand-in for StarRocks' catalog."""

from __future__ import annotations

import re
from types import SimpleNamespace

import orjson
import pytest
from airbyte_cdk.models import ConfiguredAirbyteCatalogSerializer

from destination_starrocks.errors import StarRocksSqlError
from destination_starrocks.tables import TableManager

IDENT = r"`((?:[^`]|``)*)`"


def unquote(text: str) -> str:
    return text.replace("``", "`")


class FakeStarRocks:
    """Understands exactly the statements TableManager sends; records them all."""

    def __init__(self, refuse_modify: bool = False) -> None:
        self.statements: list[str] = []
        self.tables: dict[tuple[str, str], dict] = {}
        self.refuse_modify = refuse_modify

    def add_table(
        self, db: str, table: str, model: str, columns: list[tuple[str, str]], keys=(), gens=(None, None)
    ):  # noqa: ANN001
        self.tables[(db, table)] = {
            "model": model,
            "keys": list(keys),
            "columns": list(columns),
            "gens": gens,
        }

    def ensure_database(self, database: str) -> bool:
        self.statements.append(f"CREATE DATABASE IF NOT EXISTS `{database}`")
        return True

    def execute(self, sql: str, args=None) -> int:  # noqa: ANN001
        self.statements.append(sql)
        if m := re.match(
            rf"CREATE TABLE IF NOT EXISTS {IDENT}\.{IDENT} \((.*)\) ENGINE=OLAP\n(\w+) KEY\((.*?)\)",
            sql,
            re.S,
        ):
            db, table, body, model, keys = m.groups()
            columns = re.findall(rf"^\s*{IDENT} (\S+) (?:NOT )?NULL", body, re.M)
            key_names = [unquote(k) for k in re.findall(IDENT, keys)]
            self.add_table(
                unquote(db), unquote(table), model, [(unquote(n), t) for n, t in columns], key_names
            )
        elif m := re.match(rf"ALTER TABLE {IDENT}\.{IDENT} (ADD|MODIFY) COLUMN", sql):
            table = self.tables[(unquote(m.group(1)), unquote(m.group(2)))]
            if m.group(3) == "MODIFY" and self.refuse_modify:
                raise StarRocksSqlError(1064, "unsupported")
            for verb, name, type_ in re.findall(rf"(ADD|MODIFY) COLUMN {IDENT} (\S+) NULL", sql):
                name = unquote(name)
                if verb == "ADD":
                    table["columns"].append((name, type_))
                else:
                    table["columns"] = [(n, type_ if n == name else t) for n, t in table["columns"]]
        elif m := re.match(rf"ALTER TABLE {IDENT}\.{IDENT} SWAP WITH {IDENT}", sql):
            db, a, b = (unquote(g) for g in m.groups())
            self.tables[(db, a)], self.tables[(db, b)] = self.tables[(db, b)], self.tables[(db, a)]
        elif m := re.match(rf"ALTER TABLE {IDENT}\.{IDENT} RENAME {IDENT}", sql):
            db, a, b = (unquote(g) for g in m.groups())
            self.tables[(db, b)] = self.tables.pop((db, a))
        elif m := re.match(rf"DROP TABLE IF EXISTS {IDENT}\.{IDENT}", sql):
            self.tables.pop((unquote(m.group(1)), unquote(m.group(2))), None)
        return 0

    def query(self, sql: str, args=None) -> list[tuple]:  # noqa: ANN001
        self.statements.append(sql)
        if "information_schema.tables_config" in sql:
            table = self.tables.get(tuple(args))
            if table is None:
                return []
            model = {"PRIMARY": "PRIMARY_KEYS", "DUPLICATE": "DUP_KEYS"}[table["model"]]
            return [(model, ", ".join(f"`{k}`" for k in table["keys"]))]
        if m := re.match(rf"DESC {IDENT}\.{IDENT}", sql):
            table = self.tables[(unquote(m.group(1)), unquote(m.group(2)))]
            return [(n, t.lower(), "YES", "false", None, "") for n, t in table["columns"]]
        if "information_schema.tables " in sql:  # which of the named tables exist
            db, *names = args
            return [(name,) for name in names if (db, name) in self.tables]
        if m := re.match(rf"SELECT 1 FROM {IDENT}\.{IDENT} WHERE .* < (\d+) LIMIT 1", sql):
            low, _ = self.tables[(unquote(m.group(1)), unquote(m.group(2)))]["gens"]  # (None, None): empty
            return [(1,)] if low is not None and low < int(m.group(3)) else []
        if re.match(r"SELECT (COUNT\(\*\)|DISTINCT)", sql):
            return [(0,)]
        raise AssertionError(f"unexpected query {sql}")


def configured(
    name="s", properties=None, mode="append", pk=None, cursor=None, gen=0, min_gen=0, namespace=None
):  # noqa: ANN001, ANN201
    entry = {
        "stream": {
            "name": name,
            "json_schema": {"type": "object", "properties": properties or {"id": {"type": "integer"}}},
            "supported_sync_modes": ["full_refresh", "incremental"],
            **({"namespace": namespace} if namespace else {}),
        },
        "sync_mode": "incremental",
        "destination_sync_mode": mode,
        "generation_id": gen,
        "minimum_generation_id": min_gen,
        "sync_id": 5,
        **({"primary_key": pk} if pk else {}),
        **({"cursor_field": cursor} if cursor else {}),
    }
    return ConfiguredAirbyteCatalogSerializer.load({"streams": [entry]}).streams[0]


def manager(fake: FakeStarRocks, **config) -> TableManager:  # noqa: ANN003
    values = {"database": "airbyte", "table_properties": {"replication_num": "1"}, **config}
    return TableManager(fake, SimpleNamespace(**values))


def test_append_stream_gets_a_duplicate_key_table_with_airbyte_columns_first():
    fake = FakeStarRocks()
    target = manager(fake).prepare(
        configured(properties={"id": {"type": "integer"}, "name": {"type": "string"}})
    )
    create = next(s for s in fake.statements if s.startswith("CREATE TABLE"))
    assert "DUPLICATE KEY(`_airbyte_raw_id`)" in create and "DISTRIBUTED BY HASH(`_airbyte_raw_id`)" in create
    assert 'PROPERTIES ("replication_num" = "1")' in create
    names = [n for n, _ in fake.tables[("airbyte", "s")]["columns"]]
    assert names == [
        "_airbyte_raw_id",
        "_airbyte_extracted_at",
        "_airbyte_meta",
        "_airbyte_generation_id",
        "id",
        "name",
    ]
    assert not target.dedup and not target.staging and target.headers == {}
    assert fake.statements[0] == "CREATE DATABASE IF NOT EXISTS `airbyte`"


def test_dedup_stream_gets_primary_key_table_keys_first_not_null_and_distributed_by_key():
    fake = FakeStarRocks()
    stream = configured(
        properties={"id": {"type": "integer"}, "n": {"type": "number"}, "doc": {"type": "object"}, "ts": {"type": "integer"}},
        mode="append_dedup", pk=[["id"], ["n"], ["doc", "sku"]], cursor=["ts"],
    )  # fmt: skip
    target = manager(fake, table_buckets=8).prepare(stream)
    create = next(s for s in fake.statements if s.startswith("CREATE TABLE"))
    assert "PRIMARY KEY(`id`, `n`, `doc_sku`)" in create
    assert "DISTRIBUTED BY HASH(`id`, `n`, `doc_sku`) BUCKETS 8" in create
    assert "`id` BIGINT NOT NULL" in create and "`n` DECIMAL(38,9) NOT NULL" in create
    assert "`doc_sku` VARCHAR(65533) NOT NULL" in create
    assert create.index("`doc_sku`") < create.index("`_airbyte_raw_id`")
    assert target.dedup and target.headers["merge_condition"] == "ts"
    assert target.headers["columns"].startswith("`id`,`n`,`doc_sku`,`_airbyte_raw_id`")
    assert target.headers["columns"].endswith(",__op")


def test_no_merge_condition_without_a_usable_top_level_cursor():
    for cursor, props in (
        (["doc", "ts"], {"doc": {"type": "object"}}),
        (["o"], {"o": {"type": "object"}}),
        (["id"], {}),
    ):
        fake = FakeStarRocks()
        properties = {"id": {"type": "integer"}, **props}
        target = manager(fake).prepare(
            configured(properties=properties, mode="append_dedup", pk=[["id"]], cursor=cursor)
        )
        assert "merge_condition" not in target.headers


def test_table_properties_are_escaped_string_literals():
    fake = FakeStarRocks()
    manager(fake, table_properties={'we"ird': "v\\a"}).prepare(configured())
    create = next(s for s in fake.statements if s.startswith("CREATE TABLE"))
    assert 'PROPERTIES ("we\\"ird" = "v\\\\a")' in create


@pytest.mark.parametrize(
    ("mode", "gen", "min_gen", "staging"),
    [("overwrite", 0, 0, True), ("append", 3, 3, True), ("append", 3, 0, False), ("append", 0, 0, False),
     ("append_dedup", 2, 2, True)],
)  # fmt: skip
def test_truncate_happens_for_overwrite_and_truncate_refreshes_only(mode, gen, min_gen, staging):
    fake = FakeStarRocks()
    target = manager(fake).prepare(configured(mode=mode, gen=gen, min_gen=min_gen, pk=[["id"]]))
    assert target.staging is staging
    assert (target.load_table == "s__airbyte_tmp") is staging


def test_finish_swaps_staging_in_or_renames_it_on_a_first_sync_and_does_nothing_when_incomplete():
    fake = FakeStarRocks()
    tables = manager(fake)
    first = tables.prepare(configured(mode="overwrite", gen=1, min_gen=1))
    tables.finish(first, complete=False)
    assert ("airbyte", "s") not in fake.tables and ("airbyte", "s__airbyte_tmp") in fake.tables
    tables.finish(first, complete=True)
    assert ("airbyte", "s") in fake.tables and ("airbyte", "s__airbyte_tmp") not in fake.tables
    assert any("RENAME `s`" in s for s in fake.statements)
    fake.tables[("airbyte", "s")]["gens"] = (1, 1)  # the first sync's rows
    second = manager(fake).prepare(configured(mode="overwrite", gen=2, min_gen=2))
    fake.statements.clear()
    manager(fake).finish(second, complete=True)
    assert fake.statements[-2:] == [
        "ALTER TABLE `airbyte`.`s` SWAP WITH `s__airbyte_tmp`",
        "DROP TABLE IF EXISTS `airbyte`.`s__airbyte_tmp` FORCE",
    ]


def test_staging_of_this_refresh_or_empty_is_reused_and_with_older_generations_dropped():
    columns = [("_airbyte_raw_id", "VARCHAR(36)"), ("_airbyte_generation_id", "BIGINT"), ("id", "BIGINT")]
    for gens, dropped in (
        ((4, 4), False),
        ((4, 5), False),
        ((None, None), False),
        ((3, 3), True),
        ((3, 4), True),
    ):
        fake = FakeStarRocks()
        fake.add_table("airbyte", "s__airbyte_tmp", "DUPLICATE", columns, gens=gens)
        manager(fake).prepare(configured(mode="overwrite", gen=4, min_gen=4))
        assert any(s.startswith("DROP TABLE") for s in fake.statements) is dropped


def test_new_fields_are_added_widenable_types_widened_and_others_kept_with_typecast_nulls():
    fake = FakeStarRocks()
    airbyte = [("_airbyte_raw_id", "VARCHAR(36)"), ("_airbyte_extracted_at", "DATETIME"), ("_airbyte_meta", "JSON"),
               ("_airbyte_generation_id", "BIGINT")]  # fmt: skip
    old = [("small", "INT"), ("grow", "BIGINT"), ("text", "VARCHAR(65533)"), ("gone", "BOOLEAN")]
    fake.add_table("airbyte", "s", "DUPLICATE", airbyte + old)
    properties = {
        "small": {"type": "integer"},  # INT -> BIGINT: widened
        "grow": {"type": "number"},  # BIGINT -> DOUBLE: widened
        "text": {"type": "integer"},  # VARCHAR cannot become BIGINT: kept, ints become text
        "new": {"type": "string", "format": "date"},  # added
    }
    target = manager(fake).prepare(configured(properties=properties))
    assert "ALTER TABLE `airbyte`.`s` ADD COLUMN `new` DATE NULL" in fake.statements
    modify = next(s for s in fake.statements if "MODIFY" in s)
    assert (
        modify
        == "ALTER TABLE `airbyte`.`s` MODIFY COLUMN `small` BIGINT NULL, MODIFY COLUMN `grow` DOUBLE NULL"
    )
    assert dict(fake.tables[("airbyte", "s")]["columns"])["gone"] == "BOOLEAN"  # vanished fields stay

    row = orjson.loads(target.shaper.shape({"small": 1, "grow": 2.5, "text": 7, "new": "bad"}, 0))
    assert (row["small"], row["grow"], row["text"], row["new"]) == (1, 2.5, "7", None)


def test_a_refused_widening_keeps_the_old_type_and_nulls_mismatches_with_typecast_error():
    fake = FakeStarRocks(refuse_modify=True)
    airbyte = [("_airbyte_raw_id", "VARCHAR(36)"), ("_airbyte_extracted_at", "DATETIME"), ("_airbyte_meta", "JSON"),
               ("_airbyte_generation_id", "BIGINT")]  # fmt: skip
    fake.add_table("airbyte", "s", "DUPLICATE", [*airbyte, ("v", "BIGINT")])
    target = manager(fake).prepare(configured(properties={"v": {"type": "number"}}))

    row = orjson.loads(target.shaper.shape({"v": 2.5}, 0))
    assert row["v"] is None
    assert row["_airbyte_meta"]["changes"] == [
        {"field": "v", "change": "NULLED", "reason": "DESTINATION_TYPECAST_ERROR"}
    ]


def test_model_or_key_changes_rebuild_the_table_and_swap_it_in():
    properties = {"id": {"type": "integer"}, "k": {"type": "integer"}}
    fake = FakeStarRocks()
    manager(fake).prepare(configured(properties=properties))
    fake.statements.clear()
    target = manager(fake).prepare(configured(mode="append_dedup", pk=[["k"]], properties=properties))
    assert fake.tables[("airbyte", "s")]["model"] == "PRIMARY" and fake.tables[("airbyte", "s")]["keys"] == [
        "k"
    ]
    assert ("airbyte", "s__airbyte_new") not in fake.tables and target.dedup
    writes = [
        s.split(" (")[0] for s in fake.statements if not s.startswith(("SELECT", "DESC", "CREATE DATA"))
    ]
    assert writes == [
        "DROP TABLE IF EXISTS `airbyte`.`s__airbyte_new` FORCE",
        "CREATE TABLE IF NOT EXISTS `airbyte`.`s__airbyte_new`",
        "INSERT INTO `airbyte`.`s__airbyte_new`",
        "ALTER TABLE `airbyte`.`s` SWAP WITH `s__airbyte_new`",
        "DROP TABLE IF EXISTS `airbyte`.`s__airbyte_new` FORCE",
    ]
    fake.statements.clear()
    manager(fake).prepare(configured(properties=properties))  # back to append: a Duplicate Key table
    assert fake.tables[("airbyte", "s")]["model"] == "DUPLICATE"
    assert any(s.startswith("ALTER TABLE `airbyte`.`s` SWAP WITH") for s in fake.statements)


def test_streams_colliding_on_one_table_name_get_distinct_tables_and_namespaces_separate_databases():
    fake = FakeStarRocks()
    tables = manager(fake)
    a = tables.prepare(configured(name="user-events"))
    b = tables.prepare(configured(name="user events"))
    c = tables.prepare(configured(name="user events", namespace="other ns"))
    assert a.table == "user_events" and b.table.startswith("user_events_") and b.table != a.table
    assert (c.database, c.table) == ("other_ns", "user_events")


def test_a_cursor_kept_in_a_column_of_another_type_orders_by_the_schema_and_gets_no_merge_condition():
    fake = FakeStarRocks()
    airbyte = [("_airbyte_raw_id", "VARCHAR(36)"), ("_airbyte_extracted_at", "DATETIME"), ("_airbyte_meta", "JSON"),
               ("_airbyte_generation_id", "BIGINT")]  # fmt: skip
    fake.add_table(
        "airbyte", "s", "PRIMARY", [("id", "BIGINT"), *airbyte, ("ts", "VARCHAR(65533)")], keys=["id"]
    )
    properties = {"id": {"type": "integer"}, "ts": {"type": "integer"}}
    target = manager(fake).prepare(
        configured(properties=properties, mode="append_dedup", pk=[["id"]], cursor=["ts"])
    )
    assert "merge_condition" not in target.headers  # "10" < "9" as text: StarRocks would keep the wrong row
    assert target.shaper.cursor_value({"id": 1, "ts": "10"}) > target.shaper.cursor_value({"id": 1, "ts": 9})
