"""Load-time rules of StarRocks' FE planner and BE memtable, through Stream Load (starrocks_emulator/be/stream_load.py,
storage/table_models.py); runs against a real StarRocks too (STARROCKS_HOST).

Sources: fe/.../load/Load.java (`checkMergeCondition`, `initColumns`), be/src/storage/memtable.cpp and
primary_key_encoder.cpp (`primary_key_limit_size`), be/src/storage/lake/update_manager.cpp and
NullableColumn::compare_at (a NULL condition value never wins; deletes ignore the condition).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from integration_tests.sql_target import run, scratch_database

PK = "PRIMARY KEY(id) DISTRIBUTED BY HASH(id) BUCKETS 1 PROPERTIES ('replication_num' = '1')"
JSON = {"format": "json"}


@pytest.fixture
def db(starrocks: Any) -> Iterator[str]:
    with scratch_database(starrocks, "loadrules") as name:
        yield name


def sql(starrocks: Any, db: str, statement: str) -> list[tuple]:
    return [tuple(r) for r in run(starrocks, db, statement)]


def load(starrocks: Any, db: str, rows: list[dict], table: str = "t", **headers: str) -> dict:
    body = "\n".join(json.dumps(r) for r in rows).encode()
    response = starrocks.http.stream_load(
        db, table, body, {"label": f"l_{uuid.uuid4().hex}", **JSON, **headers}
    )
    assert response.status_code == 200, response.text
    return response.json()


@pytest.mark.parametrize("cursor_type", ["VARCHAR(64)", "STRING", "CHAR(20)", "JSON"])
def test_merge_condition_on_a_string_or_json_column_fails_the_load(starrocks, db, cursor_type):
    sql(starrocks, db, f"CREATE TABLE t (id BIGINT NOT NULL, c {cursor_type}) {PK}")
    answer = load(starrocks, db, [{"id": 1, "c": "2024-01-01"}], merge_condition="c")
    assert answer["Status"] == "Fail"
    assert (
        "Merge condition column has invalid type maybe bitmap/hll/percentile/json/varchar!"
        in answer["Message"]
    )
    assert sql(starrocks, db, "SELECT count(*) FROM t") == [(0,)]


def test_merge_condition_on_a_key_column_or_a_duplicate_key_table_fails(starrocks, db):
    sql(starrocks, db, f"CREATE TABLE t (id BIGINT NOT NULL, v BIGINT) {PK}")
    answer = load(starrocks, db, [{"id": 1, "v": 1}], merge_condition="id")
    assert answer["Status"] == "Fail" and "should not be primary key" in answer["Message"]
    sql(
        starrocks,
        db,
        "CREATE TABLE d (id BIGINT, v BIGINT) DUPLICATE KEY(id) PROPERTIES ('replication_num' = '1')",
    )
    answer = load(starrocks, db, [{"id": 1, "v": 1}], table="d", merge_condition="v")
    assert (
        answer["Status"] == "Fail"
        and "Conditional update only support primary key table" in answer["Message"]
    )


def test_a_null_new_cursor_never_replaces_a_stored_non_null_one(starrocks, db):
    sql(starrocks, db, f"CREATE TABLE t (id BIGINT NOT NULL, v VARCHAR(8), c BIGINT) {PK}")
    load(
        starrocks, db, [{"id": 1, "v": "old", "c": 5}, {"id": 2, "v": "old", "c": None}], merge_condition="c"
    )
    answer = load(
        starrocks, db, [{"id": 1, "v": "null", "c": None}, {"id": 2, "v": "new", "c": 1}], merge_condition="c"
    )
    assert answer["Status"] == "Success"
    # id 1: the stored 5 beats a NULL; id 2: a stored NULL loses to any value
    assert sql(starrocks, db, "SELECT id, v, c FROM t ORDER BY id") == [(1, "old", 5), (2, "new", 1)]


def test_a_delete_ignores_the_merge_condition(starrocks, db):
    sql(starrocks, db, f"CREATE TABLE t (id BIGINT NOT NULL, c BIGINT) {PK}")
    load(starrocks, db, [{"id": 1, "c": 10}, {"id": 2, "c": 10}], merge_condition="c")
    load(starrocks, db, [{"id": 1, "c": 1, "__op": 1}, {"id": 2, "c": 1}], merge_condition="c")
    assert sql(starrocks, db, "SELECT id, c FROM t ORDER BY id") == [(2, 10)]


def test_json_load_without_columns_reads_op_from_each_object_and_defaults_it_to_upsert(starrocks, db):
    sql(starrocks, db, f"CREATE TABLE t (id BIGINT NOT NULL, v VARCHAR(8)) {PK}")
    load(starrocks, db, [{"id": 1, "v": "a"}, {"id": 2, "v": "b"}, {"id": 3, "v": "c"}])
    answer = load(starrocks, db, [{"id": 1, "__op": 1}, {"id": 2, "v": "b2", "__op": 0}, {"id": 4, "v": "d"}])
    assert answer["Status"] == "Success"
    assert sql(starrocks, db, "SELECT id, v FROM t ORDER BY id") == [(2, "b2"), (3, "c"), (4, "d")]


def test_json_keys_map_to_columns_by_exact_name(starrocks, db):
    sql(starrocks, db, f"CREATE TABLE t (id BIGINT NOT NULL, Name VARCHAR(8)) {PK}")
    load(starrocks, db, [{"id": 1, "name": "lower", "Name": "exact"}, {"id": 2, "NAME": "upper"}])
    assert sql(starrocks, db, "SELECT id, Name FROM t ORDER BY id") == [(1, "exact"), (2, None)]


def test_a_columns_header_that_leaves_out_a_not_null_column_without_default_fails(starrocks, db):
    sql(starrocks, db, f"CREATE TABLE t (id BIGINT NOT NULL, must VARCHAR(8) NOT NULL, v INT) {PK}")
    answer = load(starrocks, db, [{"id": 1, "v": 1}], columns="id,v")
    assert answer["Status"] == "Fail"
    assert "Column has no default value. column: must" in answer["Message"]


@pytest.mark.parametrize(
    "ddl, row, fails",
    [
        ("id VARCHAR(300) NOT NULL", {"id": "k" * 128}, False),
        ("id VARCHAR(300) NOT NULL", {"id": "k" * 129}, True),
        ("id VARCHAR(300) NOT NULL", {"id": "é" * 65}, True),  # 130 bytes in UTF-8
        # composite: BIGINT 8 + VARCHAR (n + 2, not last) + VARCHAR m (last)
        ("n BIGINT NOT NULL, id VARCHAR(300) NOT NULL, z VARCHAR(300) NOT NULL", {"n": 1, "id": "a" * 100, "z": "b" * 18}, False),
        ("n BIGINT NOT NULL, id VARCHAR(300) NOT NULL, z VARCHAR(300) NOT NULL", {"n": 1, "id": "a" * 100, "z": "b" * 19}, True),
    ],
)  # fmt: skip
def test_an_encoded_primary_key_over_128_bytes_fails_the_whole_load(starrocks, db, ddl, row, fails):
    keys = ", ".join(part.split()[0] for part in ddl.split(", "))
    sql(
        starrocks, db,
        f"CREATE TABLE t ({ddl}, v INT) PRIMARY KEY({keys}) DISTRIBUTED BY HASH({keys.split(', ')[0]}) BUCKETS 1 "
        "PROPERTIES ('replication_num' = '1')",
    )  # fmt: skip
    short = {k: (1 if isinstance(v, int) else "s") for k, v in row.items()}
    answer = load(starrocks, db, [short, {**row, "v": 2}])
    if fails:
        assert answer["Status"] == "Fail"
        assert "primary key size exceed the limit." in answer["Message"]
        assert sql(starrocks, db, "SELECT count(*) FROM t") == [(0,)]  # the short key did not land either
    else:
        assert answer["Status"] == "Success", answer
        assert sql(starrocks, db, "SELECT count(*) FROM t") == [(2,)]


def test_an_insert_with_an_over_long_primary_key_fails_too(starrocks, db):
    sql(starrocks, db, f"CREATE TABLE t (id VARCHAR(300) NOT NULL, v INT) {PK}")
    with pytest.raises(Exception) as err:
        sql(starrocks, db, f"INSERT INTO t VALUES ('{'k' * 200}', 1)")
    assert "primary key size exceed the limit" in str(err.value)
