"""Hostile and broken input through the real entrypoint: each gets a clear message, nothing is half-loaded.

A bad line stops the sync with a TRACE naming the line (or the stream) and the right `failure_type`; the
records received before it are committed and the STATEs covering them are echoed first (the writer flushes
before it re-raises), so the platform's retry resumes exactly after them. Bad *values* are not bad input:
they are nulled (or truncated) and recorded in `_airbyte_meta.changes`, and the row loads.
"""

from __future__ import annotations

import orjson
import pytest

from integration_tests.connector import (
    catalog,
    config_for,
    connect,
    record,
    run_connector,
    state_value,
    stream,
    stream_state,
)

pytestmark = pytest.mark.timeout(180)


def rows(starrocks, database: str, table: str, columns: str = "`id`") -> list[tuple]:  # noqa: ANN001
    with connect(starrocks) as conn, conn.cursor() as cursor:
        cursor.execute(f"SELECT {columns} FROM `{database}`.`{table}` ORDER BY `id`")
        return list(cursor.fetchall())


def before_and_after(bad_line: bytes, table: str = "t") -> list[bytes]:
    """Records 0-9 with a STATE after each five, the bad line, then records 10-14 and a STATE."""
    lines = []
    for i in range(10):
        lines.append(record(table, {"id": i, "name": f"n{i}"}))
        if i % 5 == 4:
            lines.append(stream_state(table, i))
    lines.append(bad_line)
    lines += [record(table, {"id": i, "name": "after"}) for i in range(10, 15)]
    lines.append(stream_state(table, 14))
    return lines


def assert_stopped_at_the_bad_line(run, starrocks, database: str, failure_type: str, *words: str) -> dict:  # noqa: ANN001
    assert run.returncode != 0
    (error,) = run.errors
    assert error["failure_type"] == failure_type, error
    for word in words:
        assert word in error["message"], error["message"]
    # What came before the bad line is committed and checkpointed; nothing after it is loaded.
    assert [state_value(s) for s in run.states] == [4, 9]
    assert rows(starrocks, database, "t") == [(i,) for i in range(10)]
    return error


def test_a_malformed_json_line_fails_naming_its_line_after_committing_what_came_before(
    starrocks, fresh_database
):
    lines = before_and_after(b'{"type": "RECORD", "record": {"stream": "t", "data": {"id": 99')
    run = run_connector("write", config_for(starrocks, database=fresh_database), catalog(stream("t")), lines)
    assert_stopped_at_the_bad_line(
        run, starrocks, fresh_database, "system_error", "line 13", "not an Airbyte"
    )


def test_a_record_for_a_stream_not_in_the_catalog_names_the_stream(starrocks, fresh_database):
    lines = before_and_after(record("intruder", {"id": 1}))
    run = run_connector("write", config_for(starrocks, database=fresh_database), catalog(stream("t")), lines)
    error = assert_stopped_at_the_bad_line(
        run, starrocks, fresh_database, "system_error", "intruder", "line 13"
    )
    assert "catalog" in error["message"]


def test_invalid_utf8_fails_naming_the_line(starrocks, fresh_database):
    bad = b'{"type": "RECORD", "record": {"stream": "t", "emitted_at": 1, "data": {"id": 50, "name": "\xff\xfe"}}}'
    lines = before_and_after(bad)
    run = run_connector("write", config_for(starrocks, database=fresh_database), catalog(stream("t")), lines)
    assert_stopped_at_the_bad_line(run, starrocks, fresh_database, "system_error", "line 13", "UTF-8")


@pytest.mark.parametrize(
    "bad_line",
    [
        b'{"type": "RECORD", "record": {"data": {"id": 50}, "emitted_at": 1}}',
        b'{"type": "RECORD", "record": {"stream": "t", "data": [1, 2], "emitted_at": 1}}',
        b'{"type": "RECORD", "record": null}',
        b'{"type": "RECORD", "record": {"stream": "t", "data": {"id": 50}, "emitted_at": "yesterday"}}',
        b'{"type": "STATE", "state": "not an object"}',
    ],
    ids=[
        "record without stream",
        "data not an object",
        "record null",
        "emitted_at not a number",
        "bad state",
    ],
)
def test_a_message_of_the_wrong_shape_fails_naming_its_line_after_committing_what_came_before(
    starrocks, fresh_database, bad_line
):
    run = run_connector(
        "write",
        config_for(starrocks, database=fresh_database),
        catalog(stream("t")),
        before_and_after(bad_line),
    )
    assert_stopped_at_the_bad_line(run, starrocks, fresh_database, "system_error", "line 13")


def test_a_50_mb_record_loads_truncated_with_a_meta_change_and_its_neighbours_load_too(
    starrocks, fresh_database
):
    huge = "x" * (50 * 1024 * 1024)
    lines = [
        record("t", {"id": 1, "name": "before"}),
        record("t", {"id": 2, "name": huge}),
        record("t", {"id": 3, "name": "after"}),
        stream_state("t", 3),
    ]
    del huge
    run = run_connector("write", config_for(starrocks, database=fresh_database), catalog(stream("t")), lines)
    assert run.returncode == 0, run.stderr[-3000:]
    assert [state_value(s) for s in run.states] == [3]
    loaded = rows(starrocks, fresh_database, "t", "`id`, LENGTH(`name`), `_airbyte_meta`")
    assert [(i, n) for i, n, _ in loaded[::2]] == [(1, 6), (3, 5)]
    big_id, big_length, big_meta = loaded[1]
    assert big_id == 2 and 0 < big_length < 50 * 1024 * 1024
    changes = orjson.loads(big_meta)["changes"]
    assert changes == [
        {"field": "name", "change": "TRUNCATED", "reason": "DESTINATION_FIELD_SIZE_LIMITATION"}
    ]


def test_a_record_whose_values_all_violate_the_schema_loads_as_nulls_with_changes(starrocks, fresh_database):
    properties = {
        "id": {"type": "integer"},
        "amount": {"type": "number"},
        "flag": {"type": "boolean"},
        "day": {"type": "string", "format": "date"},
        "at": {"type": "string", "format": "date-time"},
    }
    bad = {"id": 1, "amount": "lots", "flag": "maybe", "day": "yesterday", "at": "noon-ish"}
    lines = [record("t", bad), record("t", {"id": 2, "amount": 1.5, "flag": True}), stream_state("t", 2)]
    run = run_connector(
        "write", config_for(starrocks, database=fresh_database), catalog(stream("t", properties)), lines
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.errors == []
    assert [state_value(s) for s in run.states] == [2]
    loaded = rows(starrocks, fresh_database, "t", "`id`, `amount`, `flag`, `day`, `at`, `_airbyte_meta`")
    assert [r[:5] for r in loaded] == [(1, None, None, None, None), (2, 1.5, 1, None, None)]
    changes = orjson.loads(loaded[0][5])["changes"]
    assert sorted(c["field"] for c in changes) == ["amount", "at", "day", "flag"]
    assert {c["change"] for c in changes} == {"NULLED"}
    assert orjson.loads(loaded[1][5])["changes"] == []


def test_empty_stdin_is_a_successful_sync_with_nothing_to_say(starrocks, fresh_database):
    run = run_connector("write", config_for(starrocks, database=fresh_database), catalog(stream("t")), b"")
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.errors == [] and run.states == []
    assert rows(starrocks, fresh_database, "t") == []


def test_a_state_with_no_records_is_echoed_with_a_zero_count(starrocks, fresh_database):
    lines = [
        stream_state("t", "first"),
        record("t", {"id": 1}),
        stream_state("t", "second"),
        stream_state("t", "3"),
    ]
    run = run_connector("write", config_for(starrocks, database=fresh_database), catalog(stream("t")), lines)
    assert run.returncode == 0, run.stderr[-3000:]
    assert [state_value(s) for s in run.states] == ["first", "second", "3"]
    assert [s["destinationStats"]["recordCount"] for s in run.states] == [0, 1, 0]


def test_a_catalog_with_a_stream_twice_is_refused_naming_it(starrocks, fresh_database):
    lines = [record("twice", {"id": 1}), stream_state("twice", 1)]
    run = run_connector(
        "write",
        config_for(starrocks, database=fresh_database),
        catalog(stream("twice"), stream("other"), stream("twice")),
        lines,
    )
    assert run.returncode != 0
    (error,) = run.errors
    assert error["failure_type"] == "config_error", error
    assert "twice" in error["message"] and "catalog" in error["message"]
    assert run.states == []
    with connect(starrocks) as conn, conn.cursor() as cursor:
        cursor.execute("SHOW DATABASES")
        assert fresh_database not in {r[0] for r in cursor.fetchall()}  # refused before touching anything


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"host": None}, ["host"]),
        ({"query_port": "nine thousand"}, ["query_port"]),
        ({"batch_size": -5, "max_retries": "many"}, ["batch_size", "max_retries"]),
        ({"load_urls": "fe:8030"}, ["load_urls"]),
        ({"label_prefix": "has spaces!"}, ["label_prefix"]),
    ],
)
def test_a_bad_config_is_a_config_error_naming_each_field_for_write_and_check(starrocks, change, named):
    config = config_for(starrocks, password="pw-Never-Shown-42", database="never_created_db")
    for key, value in change.items():
        if value is None:
            config.pop(key)
        else:
            config[key] = value
    write = run_connector("write", config, catalog(stream("t")), [record("t", {"id": 1})])
    assert write.returncode != 0
    (error,) = write.errors
    assert error["failure_type"] == "config_error", error
    check = run_connector("check", config)
    (status,) = [m["connectionStatus"] for m in check.of_type("CONNECTION_STATUS")] or [
        {"status": "FAILED", "message": check.errors[0]["message"]}
    ]
    assert status["status"] == "FAILED"
    for field in named:
        assert field in error["message"], error["message"]
        assert field in status["message"], status["message"]
    for run in (write, check):
        assert "pw-Never-Shown-42" not in run.stdout + run.stderr


def test_check_uses_the_database_the_sync_writes_to_when_the_name_needs_sanitising(starrocks, fresh_database):
    # "it_x-y ü" is not a StarRocks database name; the sync writes to its sanitised form, so check must
    # create and probe that one (and leave no database the sync never uses).
    odd = f"{fresh_database}-y ü"
    config = config_for(starrocks, database=odd)
    check = run_connector("check", config)
    (status,) = [m["connectionStatus"] for m in check.of_type("CONNECTION_STATUS")]
    assert status["status"] == "SUCCEEDED", status
    write = run_connector(
        "write", config, catalog(stream("t")), [record("t", {"id": 1}), stream_state("t", 1)]
    )
    assert write.returncode == 0, write.stderr[-3000:]
    with connect(starrocks) as conn, conn.cursor() as cursor:
        cursor.execute("SHOW DATABASES")
        created = sorted(r[0] for r in cursor.fetchall() if r[0].startswith(fresh_database))
    assert created == [f"{fresh_database}_y_u"]
    assert rows(starrocks, created[0], "t") == [(1,)]
