"""A metadata lookup costs the tables it names, not every table in the catalog (issue 16).

`make bench`'s `many_streams` (200 streams) spent most of the emulator's CPU answering the connector's one
`information_schema.tables ... TABLE_NAME IN (...)` lookup per stream (destination_starrocks/truncate_resume.py):
each built the rows, row counts and create times of all 200 tables. sql/information_schema.py `_pinned` now
takes an IN list of names as it takes an equality, and Engine.table_sizes counts only the tables asked for;
these tests pin that and that the answers stay what they were.
"""

from __future__ import annotations

import uuid

import orjson
import pytest

from starrocks_emulator.be.spool import release_spool, write_spool
from starrocks_emulator.be.stream_load import LoadOptions, appending_insert_sql
from starrocks_emulator.sql.information_schema import InformationSchema
from starrocks_emulator.sql.translate import parse_statements
from starrocks_emulator.storage.catalog import Column, TableMeta
from starrocks_emulator.storage.engine import Engine

pytestmark = pytest.mark.emulator_only

NAMES = ("a", "b", "c")


@pytest.fixture
def engine(tmp_path) -> Engine:
    """Tables d.a (two rows loaded), d.b and d.c (empty), and e.a (one row)."""
    engine = Engine(None)
    for db in ("d", "e"):
        engine.create_database(db)
        for name in NAMES if db == "d" else ("a",):
            columns = [Column("id", "BIGINT", nullable=False), Column("v", "VARCHAR(8)")]
            engine.create_table(TableMeta(db, name, columns, "DUPLICATE", ["id"], "HASH", ["id"], 1))
    options = LoadOptions.from_headers({"format": "json"})
    for db, rows in (("d", 2), ("e", 1)):
        body = b"\n".join(orjson.dumps({"id": i, "v": "x"}) for i in range(rows))
        path, _ = write_spool(str(tmp_path), "json", lambda handle, body=body: handle.write(body))
        meta = engine.table(db, "a")
        txn_id, _ = engine.begin_load(db, f"l_{uuid.uuid4().hex}", "a", "STREAM_LOAD", "root")
        insert_sql = appending_insert_sql(meta, options, path)
        assert insert_sql is not None
        engine.commit_appended(txn_id, meta, insert_sql, load_bytes=len(body))
        release_spool(path)
    return engine


def _ask(engine: Engine, sql: str) -> list[tuple]:
    return InformationSchema(engine).query(parse_statements(sql)[0])[1]


def _spy_sizes(engine: Engine, monkeypatch) -> list[tuple[str, str]]:
    asked: list[tuple[str, str]] = []
    table_sizes = engine.table_sizes

    def spy(tables):
        asked.extend(tables)
        return table_sizes(tables)

    monkeypatch.setattr(engine, "table_sizes", spy)
    return asked


LOOKUP = "SELECT TABLE_SCHEMA, TABLE_NAME, TABLE_ROWS FROM information_schema.tables WHERE "


def test_a_lookup_by_an_in_list_of_names_builds_only_those_tables(engine, monkeypatch):
    asked = _spy_sizes(engine, monkeypatch)
    rows = _ask(engine, LOOKUP + "TABLE_SCHEMA = 'd' AND TABLE_NAME IN ('a', 'b', 'zz') ORDER BY TABLE_NAME")
    assert rows == [("d", "a", 2), ("d", "b", 0)]
    assert sorted(asked) == [("d", "a"), ("d", "b")]


def test_an_in_list_of_schemas_pins_them_too(engine, monkeypatch):
    asked = _spy_sizes(engine, monkeypatch)
    rows = _ask(engine, LOOKUP + "TABLE_SCHEMA IN ('e') ORDER BY TABLE_NAME")
    assert rows == [("e", "a", 1)]
    assert asked == [("e", "a")]


@pytest.mark.parametrize(
    "where, expected",
    [
        ("TABLE_NAME IN ('a', 'b') OR TABLE_NAME = 'zz'", [("d", "a", 2), ("d", "b", 0), ("e", "a", 1)]),
        ("TABLE_NAME NOT IN ('a', 'b')", [("d", "c", 0)]),
        ("TABLE_NAME IN (SELECT 'c')", [("d", "c", 0)]),
        ("lower(TABLE_NAME) IN ('c')", [("d", "c", 0)]),
    ],
)
def test_conditions_that_do_not_pin_every_row_build_every_table_and_answer_the_same(
    engine, monkeypatch, where, expected
):
    asked = _spy_sizes(engine, monkeypatch)
    assert _ask(engine, LOOKUP + where + " ORDER BY TABLE_SCHEMA, TABLE_NAME") == expected
    assert sorted(asked) == [("d", "a"), ("d", "b"), ("d", "c"), ("e", "a")]


def test_table_rows_and_data_length_are_the_engines_stats(engine):
    stats = engine.stats()["tables"]
    rows = _ask(
        engine,
        "SELECT TABLE_SCHEMA, TABLE_NAME, TABLE_ROWS, DATA_LENGTH, CREATE_TIME IS NOT NULL "
        "FROM information_schema.tables WHERE TABLE_NAME IN ('a', 'c') ORDER BY TABLE_SCHEMA, TABLE_NAME",
    )
    assert rows == [
        (db, name, stats[f"{db}.{name}"]["rows"], stats[f"{db}.{name}"]["bytes"], True)
        for db, name in (("d", "a"), ("d", "c"), ("e", "a"))
    ]
    assert [r[2] for r in rows] == [2, 0, 1] and rows[0][3] > 0
