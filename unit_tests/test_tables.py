"""TableManager's decisions and SQL, against a small in-memory stand-in for StarRocks' catalog."""

from __future__ import annotations

import re
from types import SimpleNamespace

import orjson
import pytest
from airbyte_cdk.models import ConfiguredAirbyteCatalogSerializer

from destination_starrocks.errors import ConfigError, StarRocksSqlError, TransientError
from destination_starrocks.tables import TableManager

IDENT = r"`((?:[^`]|``)*)`"


def unquote(text: str) -> str:
    return text.replace("``", "`")


class FakeStarRocks:
    """Understands exactly the statements TableManager sends; records them all."""

    def __init__(self, refuse_modify: bool = False, backends: int = 3, default_replication: int = 3) -> None:
        self.statements: list[str] = []
        self.tables: dict[tuple[str, str], dict] = {}
        self.refuse_modify = refuse_modify
        self.backends = backends
        self.default_replication = default_replication
        self.next_id = 100
        self.jobs: list[dict] = []  # SHOW ALTER TABLE COLUMN rows
        self.on_alter = None  # called with the statement before an ALTER is applied; may raise

    def add_table(
        self,
        db: str,
        table: str,
        model: str,
        columns: list[tuple[str, str]],
        keys=(),
        gens=(None, None),
        comments=None,
    ):  # noqa: ANN001
        self.next_id += 1
        self.tables[(db, table)] = {
            "model": model,
            "keys": list(keys),
            "columns": list(columns),
            "gens": gens,
            "comments": dict(comments or {}),
            "id": self.next_id,
        }

    def ensure_database(self, database: str) -> bool:
        self.statements.append(f"CREATE DATABASE IF NOT EXISTS `{database}`")
        return True

    def execute(self, sql: str, args=None, idempotent: bool = True) -> int:  # noqa: ANN001
        self.statements.append(sql)
        if m := re.match(
            rf"CREATE TABLE IF NOT EXISTS {IDENT}\.{IDENT} \((.*)\) ENGINE=OLAP\n(\w+) KEY\((.*?)\)",
            sql,
            re.S,
        ):
            db, table, body, model, keys = m.groups()
            columns = re.findall(
                rf"^\s*{IDENT} (\S+) (?:NOT )?NULL(?: COMMENT \"((?:[^\"\\\\]|\\\\.)*)\")?", body, re.M
            )
            key_names = [unquote(k) for k in re.findall(IDENT, keys)]
            self.add_table(
                unquote(db),
                unquote(table),
                model,
                [(unquote(n), t) for n, t, _ in columns],
                key_names,
                comments={unquote(n): c for n, _, c in columns if c},
            )
        elif m := re.match(rf"ALTER TABLE {IDENT}\.{IDENT} (ADD|MODIFY) COLUMN", sql):
            if self.on_alter is not None:
                self.on_alter(sql)
                if self.jobs and self.jobs[-1]["State"] == "CANCELLED":
                    return 0  # StarRocks keeps the old schema
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
        elif m := re.match(rf"DROP TABLE IF EXISTS {IDENT}\.{IDENT} FORCE\Z", sql):
            self.tables.pop((unquote(m.group(1)), unquote(m.group(2))), None)
        elif sql.startswith("INSERT INTO "):
            pass  # a rebuild's or a fold's copy: the fake keeps no rows
        else:
            raise AssertionError(f"unexpected statement {sql}")
        return 0

    def execute_copy(self, sql: str) -> int:  # an INSERT ... SELECT copy (on its own connection in sql.py)
        return self.execute(sql, idempotent=False)

    def stream(self, sql: str, args=None):  # noqa: ANN001, ANN201 - a copy through the connector: no rows
        self.statements.append(sql)
        return iter(())

    def query(self, sql: str, args=None) -> list[tuple]:  # noqa: ANN001
        self.statements.append(sql)
        if "information_schema.tables_config" in sql and "TABLE_ID" in sql:
            db, *names = args
            return [(n, self.tables[(db, n)]["id"]) for n in names if (db, n) in self.tables]
        if "information_schema.tables_config" in sql:
            table = self.tables.get(tuple(args))
            if table is None:
                return []
            model = {"PRIMARY": "PRIMARY_KEYS", "DUPLICATE": "DUP_KEYS"}[table["model"]]
            return [(model, ", ".join(f"`{k}`" for k in table["keys"]))]
        if "information_schema.columns" in sql:
            db, name, column = args
            comment = self.tables[(db, name)]["comments"].get(column)
            return [(comment or "",)]
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

    def query_named(self, sql: str, args=None) -> list[dict]:  # noqa: ANN001
        self.statements.append(sql)
        if sql == "ADMIN SHOW FRONTEND CONFIG LIKE 'run_mode'":
            return [{"Key": "run_mode", "Value": "shared_nothing"}]
        if sql == "ADMIN SHOW FRONTEND CONFIG LIKE 'default_replication_num'":
            return [{"Key": "default_replication_num", "Value": str(self.default_replication)}]
        if sql == "SHOW BACKENDS":
            return [{"Alive": "true", "SystemDecommissioned": "false"} for _ in range(self.backends)]
        if sql.startswith("SHOW ALTER TABLE COLUMN FROM"):
            return [job for job in self.jobs if job["TableName"] == args[0]]
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


def test_dedup_stream_with_fixed_width_keys_keys_on_them_first_not_null_and_distributed_by_them():
    fake = FakeStarRocks()
    stream = configured(
        properties={"id": {"type": "integer"}, "day": {"type": "string", "format": "date"},
                    "doc": {"type": "object", "properties": {"n": {"type": "integer"}}}, "ts": {"type": "integer"}},
        mode="append_dedup", pk=[["id"], ["day"], ["doc", "n"]], cursor=["ts"],
    )  # fmt: skip
    target = manager(fake, table_buckets=8).prepare(stream)
    create = next(s for s in fake.statements if s.startswith("CREATE TABLE"))
    assert "PRIMARY KEY(`id`, `day`, `doc_n`)" in create
    assert "DISTRIBUTED BY HASH(`id`, `day`, `doc_n`) BUCKETS 8" in create
    assert (
        "`id` BIGINT NOT NULL" in create
        and "`day` DATE NOT NULL" in create
        and "`doc_n` BIGINT NOT NULL" in create
    )
    assert create.index("`doc_n`") < create.index("`_airbyte_raw_id`")
    assert "_airbyte_pk" not in create
    assert target.dedup and target.headers == {"merge_condition": "ts"}


def test_keys_starrocks_cannot_hold_get_a_surrogate_key_and_keep_their_columns_typed():
    fake = FakeStarRocks()
    stream = configured(
        properties={"year": {"type": "number"}, "name": {"type": "string"}, "doc": {"type": "object"},
                    "big": {"type": "number", "airbyte_type": "big_number"}, "ts": {"type": "integer"}},
        mode="append_dedup", pk=[["year"], ["name"], ["doc"], ["big"]], cursor=["ts"],
    )  # fmt: skip
    target = manager(fake).prepare(stream)
    create = next(s for s in fake.statements if s.startswith("CREATE TABLE"))
    # StarRocks refuses DOUBLE, DECIMAL and JSON key columns (KeysDesc), and a VARCHAR key may outgrow 128 bytes.
    assert "PRIMARY KEY(`_airbyte_pk`)\nDISTRIBUTED BY HASH(`_airbyte_pk`)" in create
    assert create.startswith(
        "CREATE TABLE IF NOT EXISTS `airbyte`.`s` (\n  `_airbyte_pk` LARGEINT NOT NULL COMMENT"
    )
    for column in ("`year` DOUBLE NOT NULL", "`name` VARCHAR(65533) NOT NULL", "`doc` JSON NOT NULL",
                   "`big` DECIMAL(38,9) NOT NULL"):  # fmt: skip
        assert column in create
    assert fake.tables[("airbyte", "s")]["comments"]["_airbyte_pk"].endswith("(year, name, doc, big)")
    assert target.headers == {"merge_condition": "ts"}
    row = orjson.loads(
        target.shaper.shape({"year": 2013, "name": "x", "doc": {"a": 1}, "big": 1, "ts": 1}, 0)
    )
    assert row["year"] == 2013 and row["doc"] == {"a": 1} and isinstance(row["_airbyte_pk"], str)
    # Numbers equal as numbers are one key, in the buffer and in StarRocks.
    same = [
        {"year": y, "name": "x", "doc": {"a": 1}, "big": b, "ts": 1}
        for y, b in ((2013, "1"), (2013.0, 1.0), ("2.013e3", 1))
    ]
    keys = {target.shaper.dedup_key(dict(r)) for r in same}
    assert len(keys) == 1
    assert {orjson.loads(target.shaper.shape(dict(r), 0))["_airbyte_pk"] for r in same} == {
        str(keys.pop()[0])
    }


AIRBYTE_DEFS = [("_airbyte_raw_id", "VARCHAR(36)"), ("_airbyte_extracted_at", "DATETIME"), ("_airbyte_meta", "JSON"),
                ("_airbyte_generation_id", "BIGINT")]  # fmt: skip


def test_a_table_created_before_surrogate_keys_is_rebuilt_onto_the_surrogate_key_at_its_first_sync():
    """Its VARCHAR PRIMARY KEY would fail the sync at the first key over 128 bytes (docs: "Primary keys")."""
    fake = FakeStarRocks()
    fake.add_table("airbyte", "s", "PRIMARY", [("url", "VARCHAR(65533)"), *AIRBYTE_DEFS], keys=["url"])
    stream = configured(properties={"url": {"type": "string"}}, mode="append_dedup", pk=[["url"]])
    target = manager(fake).prepare(stream)
    assert fake.tables[("airbyte", "s")]["keys"] == ["_airbyte_pk"]
    assert any(s.startswith("ALTER TABLE `airbyte`.`s` SWAP WITH `s__airbyte_new`") for s in fake.statements)
    assert any("ROW_NUMBER() OVER (PARTITION BY `url`" in s for s in fake.statements)  # the copy's SELECT
    assert not any(s.startswith("INSERT INTO") for s in fake.statements)  # SQL cannot compute the key
    assert target.shaper.dedup_key({"url": "u" * 129}) != target.shaper.dedup_key({"url": "u" * 128})
    assert "_airbyte_pk" in orjson.loads(target.shaper.shape({"url": "x"}, 0))
    fake.statements.clear()
    manager(fake).prepare(stream)  # once: the rebuilt table fits
    assert not any(s.startswith(("CREATE TABLE", "ALTER TABLE")) for s in fake.statements)


def test_a_natural_key_of_fixed_width_columns_is_kept():
    fake = FakeStarRocks()
    fake.add_table("airbyte", "s", "PRIMARY", [("id", "BIGINT"), *AIRBYTE_DEFS], keys=["id"])
    target = manager(fake).prepare(configured(mode="append_dedup", pk=[["id"]]))
    assert not any(s.startswith(("CREATE TABLE", "ALTER TABLE")) for s in fake.statements)
    assert target.shaper.dedup_key({"id": 5}) == (5,)


def test_a_changed_key_behind_a_surrogate_key_rebuilds_the_table_on_the_new_key():
    fake = FakeStarRocks()
    properties = {"a": {"type": "string"}, "b": {"type": "string"}}
    manager(fake).prepare(configured(properties=properties, mode="append_dedup", pk=[["a"]]))
    fake.statements.clear()
    manager(fake).prepare(configured(properties=properties, mode="append_dedup", pk=[["a"], ["b"]]))
    table = fake.tables[("airbyte", "s")]
    assert table["keys"] == ["_airbyte_pk"] and "(a, b)" in table["comments"]["_airbyte_pk"]
    copy = next(s for s in fake.statements if "ROW_NUMBER()" in s)
    # The old table's surrogate (over a) is neither copied nor used to deduplicate: the new one is computed.
    assert "PARTITION BY `a`, `b`" in copy and "`_airbyte_pk`" not in copy
    fake.statements.clear()
    manager(fake).prepare(configured(properties=properties, mode="append_dedup", pk=[["a"], ["b"]]))
    assert not any(s.startswith(("CREATE TABLE", "ALTER TABLE")) for s in fake.statements)  # same key: fine


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
        "DROP TABLE IF EXISTS `airbyte`.`s__airbyte_tmp` FORCE",  # not kept in the recycle bin for a day
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
        s.split(" (")[0]
        for s in fake.statements
        if not s.startswith(("SELECT", "DESC", "CREATE DATA", "SHOW", "ADMIN SHOW"))  # reads, not writes
    ]
    assert [re.sub(r" WITH LABEL `[^`]+`", " WITH LABEL l", w) for w in writes] == [
        "DROP TABLE IF EXISTS `airbyte`.`s__airbyte_new` FORCE",
        "CREATE TABLE IF NOT EXISTS `airbyte`.`s__airbyte_new`",
        "INSERT INTO `airbyte`.`s__airbyte_new` WITH LABEL l",  # sent once (table_copy.run_once)
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


REPLICATION_REFUSAL = (
    "Table replication num should be less than or equal to the number of available BE nodes. You can change this "
    "default by setting the replication_num table properties. Current alive backend is [10001]. "
)


def test_a_cluster_with_fewer_live_bes_than_replicas_fails_before_any_table_is_created():
    fake = FakeStarRocks(backends=1, default_replication=3)
    tables = manager(fake, table_properties={})
    with pytest.raises(
        ConfigError, match=r'3 replicas \(default_replication_num\).*1 live BE.*"replication_num": "1"'
    ):
        tables.prepare(configured(name="first"))
    assert not any(s.startswith("CREATE TABLE") for s in fake.statements)
    ok = FakeStarRocks(backends=1, default_replication=3)
    manager(ok, table_properties={"replication_num": "1"}).prepare(configured())
    assert ("airbyte", "s") in ok.tables


def test_without_the_privilege_to_look_starrocks_own_refusal_becomes_the_same_config_error():
    fake = FakeStarRocks()

    def denied(sql, args=None):  # noqa: ANN001, ANN202
        raise StarRocksSqlError(5203, "Access denied; you need (at least one of) the OPERATE privilege(s)")

    fake.query_named = denied
    execute = fake.execute

    def refuse_create(sql, args=None, idempotent=True):  # noqa: ANN001, ANN202
        if sql.startswith("CREATE TABLE"):
            raise StarRocksSqlError(1064, REPLICATION_REFUSAL)
        return execute(sql, args, idempotent)

    fake.execute = refuse_create
    with pytest.raises(ConfigError, match=r'Current alive backend is \[10001\].*"replication_num": "1"'):
        manager(fake, table_properties={}).prepare(configured())


def _airbyte_columns() -> list[tuple[str, str]]:
    return [("_airbyte_raw_id", "VARCHAR(36)"), ("_airbyte_extracted_at", "DATETIME"), ("_airbyte_meta", "JSON"),
            ("_airbyte_generation_id", "BIGINT")]  # fmt: skip


def _job_on_every_alter(fake: FakeStarRocks, final: str, message: str = "") -> None:
    def on_alter(sql: str) -> None:
        fake.jobs.append({"JobId": str(len(fake.jobs) + 1), "TableName": "s", "State": final, "Msg": message})

    fake.on_alter = on_alter


def test_schema_changes_follow_the_job_and_a_cancelled_add_column_is_a_transient_error():
    fake = FakeStarRocks()
    fake.add_table("airbyte", "s", "DUPLICATE", [*_airbyte_columns(), ("id", "BIGINT")])
    _job_on_every_alter(fake, "FINISHED")
    manager(fake).prepare(configured(properties={"id": {"type": "integer"}, "new": {"type": "string"}}))
    assert any(s.startswith("SHOW ALTER TABLE COLUMN FROM `airbyte`") for s in fake.statements)

    fake = FakeStarRocks()
    fake.add_table("airbyte", "s", "DUPLICATE", [*_airbyte_columns(), ("id", "BIGINT")])
    _job_on_every_alter(fake, "CANCELLED", "schema change job timeout")
    with pytest.raises(TransientError, match="cancelled adding columns.*schema change job timeout"):
        manager(fake).prepare(configured(properties={"id": {"type": "integer"}, "new": {"type": "string"}}))


def test_a_cancelled_widening_keeps_the_old_type():
    fake = FakeStarRocks()
    fake.add_table("airbyte", "s", "DUPLICATE", [*_airbyte_columns(), ("v", "INT")])
    _job_on_every_alter(fake, "CANCELLED", "failed to convert")
    target = manager(fake).prepare(configured(properties={"v": {"type": "integer"}}))
    assert any("MODIFY COLUMN `v` BIGINT" in s for s in fake.statements)
    assert target.shaper.plans[0].sr_type.text == "INT"  # values are converted to the column as it is


def test_wide_dedup_tables_send_no_columns_header():
    properties = {f"column_with_a_long_name_{i:04d}": {"type": "integer"} for i in range(1000)}
    properties["id"] = {"type": "integer"}
    target = manager(FakeStarRocks()).prepare(
        configured(properties=properties, mode="append_dedup", pk=[["id"]])
    )
    assert "columns" not in target.headers  # was ~32 KiB here: over the FE's http_max_header_size
    assert sum(len(k) + len(v) for k, v in target.headers.items()) < 100
    assert orjson.loads(target.shaper.shape({"id": 1}, 0))["__op"] == 0  # __op is read from the JSON


def test_string_cursors_get_a_rank_column_for_merge_condition_and_other_cursors_get_none():
    fake = FakeStarRocks()
    properties = {"id": {"type": "integer"}, "updated": {"type": "string"}, "doc": {"type": "object"}}
    target = manager(fake).prepare(
        configured(properties=properties, mode="append_dedup", pk=[["id"]], cursor=["updated"])
    )
    create = next(s for s in fake.statements if s.startswith("CREATE TABLE"))
    assert "`_airbyte_rank_updated` LARGEINT NULL COMMENT" in create
    assert target.headers == {"merge_condition": "_airbyte_rank_updated"}  # never the VARCHAR itself
    row = orjson.loads(target.shaper.shape({"id": 1, "updated": "2024-01-05T10:00:00Z"}, 0))
    later = orjson.loads(target.shaper.shape({"id": 1, "updated": "2024-01-05T10:00:01Z"}, 0))
    assert int(row["_airbyte_rank_updated"]) < int(later["_airbyte_rank_updated"])
    assert orjson.loads(target.shaper.shape({"id": 1, "updated": None}, 0))["_airbyte_rank_updated"] is None
    for cursor in (["doc"], ["doc", "ts"]):
        other = manager(FakeStarRocks()).prepare(
            configured(properties=properties, mode="append_dedup", pk=[["id"]], cursor=cursor)
        )
        assert other.headers == {}
