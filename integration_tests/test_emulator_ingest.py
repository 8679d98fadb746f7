"""How the emulator's BE ingests a Stream Load cheaply without changing what it loads (issue 16).

- A load whose rows can simply be appended is one INSERT (be/stream_load.py `appending_insert_sql`,
  Engine.commit_appended): these tests load the same bodies that way and by staging, and compare the tables,
  the counts and the load jobs; a body with a rejected row makes that INSERT fail and leaves nothing behind.
- A JSON row larger than DuckDB's default object limit still loads (read again with the 1 GB limit).
- Spool files (be/spool.py) are reused, cut to the new body, capped, and never left behind by a load.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import Any

import duckdb
import orjson
import pytest

from starrocks_emulator.be import spool
from starrocks_emulator.be.spool import release_spool, write_spool
from starrocks_emulator.be.stream_load import LoadOptions, appending_insert_sql, stage_body, stage_file
from starrocks_emulator.cluster import EmulatorServer
from starrocks_emulator.http_client import StreamLoadClient
from starrocks_emulator.storage.catalog import Column, TableMeta
from starrocks_emulator.storage.engine import Engine

pytestmark = pytest.mark.emulator_only

COLUMNS = [
    Column("id", "BIGINT", nullable=False),
    Column("name", "VARCHAR(8)"),
    Column("score", "DOUBLE"),
    Column("at", "DATETIME"),
    Column("doc", "JSON"),
    Column("flag", "BOOLEAN", default="1"),
]
ROWS = [
    {"id": 1, "name": "ada", "score": 1.5, "at": "2024-05-01 12:00:00", "doc": {"k": [1, 2]}, "flag": True},
    {"id": "2", "name": "toolongname", "score": "x", "at": "not a time", "doc": None},
    {"id": 3, "name": None, "score": 3, "at": "2024-05-01", "doc": [1, {"a": "b"}], "extra": 1},
]
BODIES = {
    "ndjson": (b"\n".join(orjson.dumps(r) for r in ROWS), {"format": "json"}),
    "array": (orjson.dumps(ROWS), {"format": "json", "strip_outer_array": "true"}),
    "csv": (b"1\tada\t1.5\n2\t\\N\tx\n", {"format": "csv", "columns": "id, name, score"}),
    "mapped": (
        orjson.dumps([{"a": 5, "b": "bo"}, {"a": 6, "b": "x"}]),
        {"format": "json", "strip_outer_array": "true", "columns": "a, b, id = a, name = concat(b, '!')"},
    ),
}


def _engine_with_table(model: str = "DUPLICATE") -> tuple[Engine, TableMeta]:
    engine = Engine(None)
    engine.create_database("d")
    engine.create_table(TableMeta("d", "t", list(COLUMNS), model, ["id"], "HASH", ["id"], 1))
    return engine, engine.table("d", "t")


def _spooled(tmp_path: Any, body: bytes, fmt: str) -> str:
    path, _ = write_spool(str(tmp_path), fmt, lambda handle: handle.write(body))
    return path


def _state(engine: Engine, txn_id: int) -> tuple:
    job = engine.job_by_txn(txn_id) or {}
    return tuple(job.get(k) for k in ("state", "scan_rows", "filtered_rows", "sink_rows", "load_bytes"))


def _table(engine: Engine) -> list[tuple]:
    return engine.query('SELECT * FROM "d"."t"')[1]


@pytest.mark.parametrize("name", sorted(BODIES))
def test_an_appended_load_is_what_staging_the_same_body_loads(tmp_path, name):
    body, headers = BODIES[name]
    options = LoadOptions.from_headers(headers)
    appended, appended_meta = _engine_with_table()
    staged_engine, staged_meta = _engine_with_table()
    for _ in range(2):  # into an empty table, then into one that has rows
        txn_a, _ = appended.begin_load("d", f"a_{uuid.uuid4().hex}", "t", "STREAM_LOAD", "root")
        path = _spooled(tmp_path, body, options.format)
        insert_sql = appending_insert_sql(appended_meta, options, path)
        assert insert_sql is not None
        rows = appended.commit_appended(txn_a, appended_meta, insert_sql, load_bytes=len(body))
        release_spool(path)

        txn_s, _ = staged_engine.begin_load("d", f"s_{uuid.uuid4().hex}", "t", "STREAM_LOAD", "root")
        staged = stage_body(staged_engine.con, staged_meta, options, body, str(tmp_path))
        assert staged.filtered_rows == 0 and staged.unselected_rows == 0
        staged_engine.commit_staged(
            txn_s,
            staged_meta,
            staged.relation,
            staged.columns,
            scan_rows=staged.total_rows,
            load_bytes=len(body),
        )
        staged.drop(staged_engine.con)
        assert rows == staged.total_rows
        assert _state(appended, txn_a) == _state(staged_engine, txn_s)
    assert _table(appended) == _table(staged_engine)
    assert appended.ledger.table_stats() == staged_engine.ledger.table_stats()


def test_a_load_with_a_rejected_row_is_not_appended_and_leaves_table_and_job_as_they_were(tmp_path):
    engine, meta = _engine_with_table()
    body = b'{"id": 1}\n{"id": null}\n{"id": 3}'
    txn_id, _ = engine.begin_load("d", "l1", "t", "STREAM_LOAD", "root")
    before = _state(engine, txn_id)
    options = LoadOptions.from_headers({"format": "json"})
    path = _spooled(tmp_path, body, "json")
    insert_sql = appending_insert_sql(meta, options, path)
    assert insert_sql is not None
    with pytest.raises(duckdb.Error):
        engine.commit_appended(txn_id, meta, insert_sql, load_bytes=len(body))
    assert _table(engine) == [] and _state(engine, txn_id) == before
    staged = stage_file(engine.con, meta, options, path)  # what the BE does next
    assert (staged.total_rows, staged.filtered_rows) == (3, 1)
    staged.drop(engine.con)


@pytest.mark.parametrize(
    ("model", "headers"),
    [("PRIMARY", {"format": "json"}), ("DUPLICATE", {"format": "json", "where": "id > 1"})],
)
def test_keyed_tables_and_where_headers_are_always_staged(tmp_path, model, headers):
    engine, meta = _engine_with_table(model)
    path = _spooled(tmp_path, b'{"id": 1}', "json")
    assert appending_insert_sql(meta, LoadOptions.from_headers(headers), path) is None
    release_spool(path)


@pytest.mark.parametrize("layout", ["ndjson", "array"])
def test_a_json_row_over_duckdbs_default_object_limit_still_loads(tmp_path, layout):
    engine = Engine(None)
    engine.create_database("d")
    columns = [Column("k", "BIGINT"), Column("big", "JSON")]
    engine.create_table(TableMeta("d", "t", columns, "DUPLICATE", ["k"], "HASH", ["k"], 1))
    meta = engine.table("d", "t")
    rows = [{"k": 1, "big": ["s" * (10 << 20)]}, {"k": 2, "big": ["x" * (20 << 20)]}, {"k": 3}, {"k": 4}]
    if layout == "ndjson":
        body, options = b"\n".join(orjson.dumps(r) for r in rows), LoadOptions(format="json")
    else:
        body, options = orjson.dumps(rows), LoadOptions(format="json", strip_outer_array=True)
    staged = stage_body(engine.con, meta, options, body, str(tmp_path))
    try:
        loaded = engine.con.execute(
            f"SELECT k, length(CAST(big AS VARCHAR)) FROM {staged.relation} ORDER BY __seq"
        ).fetchall()
    finally:
        staged.drop(engine.con)
    assert (staged.total_rows, staged.filtered_rows) == (4, 0)
    assert loaded == [(1, (10 << 20) + 4), (2, (20 << 20) + 4), (3, None), (4, None)]


def _files(directory: Any) -> list[str]:
    return sorted(os.listdir(directory))


def test_a_released_spool_file_is_renamed_and_written_over_by_the_next_body(tmp_path):
    first, size = write_spool(str(tmp_path), "json", lambda handle: handle.write(b"a" * 10_000))
    assert size == 10_000
    release_spool(first)
    release_spool(first)  # a second release (a load's drop, then its caller) changes nothing
    second, size = write_spool(str(tmp_path), "json", lambda handle: handle.write(b"short"))
    assert second != first and not os.path.exists(first) and _files(tmp_path) == [os.path.basename(second)]
    with open(second, "rb") as handle:
        assert (handle.read(), size) == (b"short", 5)
    release_spool(second)


def test_at_most_keep_files_small_enough_spool_files_are_kept(tmp_path, monkeypatch):
    monkeypatch.setattr(spool, "KEEP_BYTES", 100)
    paths = [write_spool(str(tmp_path), "json", lambda handle: handle.write(b"x"))[0] for _ in range(4)]
    big, _ = write_spool(str(tmp_path), "json", lambda handle: handle.write(b"y" * 101))
    for path in [big, *paths]:
        release_spool(path)
    assert _files(tmp_path) == sorted(os.path.basename(p) for p in paths[: spool.KEEP_FILES])


def test_a_body_that_fails_to_arrive_releases_its_spool_file(tmp_path):
    def cut(handle: Any) -> int:
        handle.write(b"partial")
        raise ConnectionError("client closed the connection mid-body")

    with pytest.raises(ConnectionError):
        write_spool(str(tmp_path), "json", cut)
    assert len(_files(tmp_path)) <= spool.KEEP_FILES
    reused, size = write_spool(str(tmp_path), "json", lambda handle: handle.write(b"{}"))
    assert size == 2 and _files(tmp_path) == [os.path.basename(reused)]


@pytest.fixture
def cluster() -> Iterator[tuple[EmulatorServer, StreamLoadClient]]:
    engine = Engine(None)
    server = EmulatorServer(engine)
    server.start()
    try:
        engine.create_database("d")
        engine.create_table(TableMeta("d", "t", list(COLUMNS), "DUPLICATE", ["id"], "HASH", ["id"], 1))
        yield server, StreamLoadClient("127.0.0.1", server.topology.leader.http_port, "root", "")
    finally:
        server.stop()


def test_stream_loads_leave_no_spool_files_behind_whatever_their_outcome(cluster):
    server, client = cluster
    json_rows = b'{"id": 1}\n{"id": 2}'
    outcomes = []
    for body, headers in [
        (json_rows, {"format": "json"}),  # appended
        (b'{"id": 1}\n{"id": null}', {"format": "json"}),  # too many filtered rows
        (b'{"id": 1}\n{"id": null}', {"format": "json", "max_filter_ratio": "0.5"}),  # staged, loaded
        (b'{"id": 1', {"format": "json"}),  # does not parse
        (orjson.dumps([{"id": 1}]), {"format": "json"}),  # an array without strip_outer_array
        (json_rows, {"format": "json", "where": "id > 1"}),  # staged
    ]:
        answer = client.stream_load("d", "t", body, {"label": f"l_{uuid.uuid4().hex}", **headers}).json()
        outcomes.append((answer["Status"], answer["NumberTotalRows"], answer["NumberFilteredRows"]))
    assert outcomes == [
        ("Success", 2, 0),
        ("Fail", 2, 1),
        ("Success", 2, 1),
        ("Fail", 0, 0),
        ("Fail", 0, 0),
        ("Success", 2, 0),
    ]
    assert len(_files(server.spool_dir)) <= spool.KEEP_FILES
