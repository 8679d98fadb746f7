"""The Stream Load transaction interface, as StarRocks documents it; runs against a real StarRocks too.

https://docs.starrocks.io/docs/loading/Stream_Load_transaction_interface/: begin / load (many) / prepare /
commit / rollback, one version per commit, labels bind transactions (LABEL_ALREADY_EXISTS), responses.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import pymysql.cursors
import pytest

TABLE = "CREATE TABLE `{db}`.`t` (id BIGINT NOT NULL, name VARCHAR(20)) DUPLICATE KEY(id) DISTRIBUTED BY HASH(id) BUCKETS 2"
JSON = {"format": "json"}


@pytest.fixture
def db(starrocks: Any, fresh_database: str) -> Iterator[str]:
    with starrocks.connect() as conn, conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE `{fresh_database}`")
        cur.execute(TABLE.format(db=fresh_database))
    yield fresh_database
    with starrocks.connect() as conn, conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS `{fresh_database}`")


def ids(starrocks: Any, db: str) -> list[int]:
    with starrocks.connect(db) as conn, conn.cursor() as cur:
        cur.execute("SELECT id FROM t ORDER BY id")
        return [r[0] for r in cur.fetchall()]


def version_count(starrocks: Any, db: str) -> int:
    with starrocks.connect(db, cursorclass=pymysql.cursors.DictCursor) as conn, conn.cursor() as cur:
        cur.execute(f"SHOW TABLET FROM `{db}`.`t`")
        return max(int(r["VersionCount"]) for r in cur.fetchall())


def txn(starrocks: Any, op: str, db: str, label: str, body: bytes | None = None, **headers: str) -> dict:
    response = starrocks.http.transaction(op, db, label, table="t", body=body, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def new_label() -> str:
    return f"txn_{uuid.uuid4().hex}"


def test_three_loads_and_one_commit_add_one_version(starrocks, db):
    before = version_count(starrocks, db)
    label = new_label()
    begun = txn(starrocks, "begin", db, label)
    assert begun["Status"] == "OK" and begun["Label"] == label and "TxnId" in begun
    for i in range(3):
        loaded = txn(starrocks, "load", db, label, f'{{"id":{i}}}\n{{"id":{i + 10}}}'.encode(), **JSON)
        assert loaded["Status"] == "OK" and loaded["TxnId"] == begun["TxnId"]
    assert ids(starrocks, db) == []  # nothing visible before the commit
    committed = txn(starrocks, "commit", db, label)
    assert committed["Status"] == "OK"
    assert ids(starrocks, db) == [0, 1, 2, 10, 11, 12]
    assert version_count(starrocks, db) == before + 1
    assert starrocks.http.load_state(db, label) == "VISIBLE"


def test_prepare_then_commit_publishes_and_a_second_commit_says_already_committed(starrocks, db):
    label = new_label()
    txn(starrocks, "begin", db, label)
    txn(starrocks, "load", db, label, b'{"id":1}', **JSON)
    prepared = txn(starrocks, "prepare", db, label)
    assert prepared["Status"] == "OK"
    assert starrocks.http.load_state(db, label) == "PREPARED"
    assert txn(starrocks, "commit", db, label)["Status"] == "OK"
    again = txn(starrocks, "commit", db, label)
    assert again["Status"] == "OK" and again["Message"] == "Transaction already commited"
    assert ids(starrocks, db) == [1]


def test_load_after_prepare_is_refused(starrocks, db):
    label = new_label()
    txn(starrocks, "begin", db, label)
    txn(starrocks, "prepare", db, label)
    refused = txn(starrocks, "load", db, label, b'{"id":1}', **JSON)
    assert refused["Status"] == "FAILED"


def test_rollback_discards_the_rows_and_aborts_the_label(starrocks, db):
    label = new_label()
    txn(starrocks, "begin", db, label)
    txn(starrocks, "load", db, label, b'{"id":1}', **JSON)
    assert txn(starrocks, "rollback", db, label)["Status"] == "OK"
    assert ids(starrocks, db) == []
    assert starrocks.http.load_state(db, label) == "ABORTED"


def test_begin_with_a_used_label_answers_label_already_exists(starrocks, db):
    label = new_label()
    txn(starrocks, "begin", db, label)
    running = txn(starrocks, "begin", db, label)
    assert running["Status"] == "LABEL_ALREADY_EXISTS" and running["ExistingJobStatus"] == "RUNNING"
    txn(starrocks, "commit", db, label)
    finished = txn(starrocks, "begin", db, label)
    assert finished["Status"] == "LABEL_ALREADY_EXISTS" and finished["ExistingJobStatus"] == "FINISHED"


def test_operations_on_an_unknown_transaction_fail(starrocks, db):
    answer = txn(starrocks, "commit", db, new_label())
    assert answer["Status"] == "FAILED"


def test_a_load_with_too_many_filtered_rows_rolls_the_transaction_back(starrocks, db):
    label = new_label()
    txn(starrocks, "begin", db, label)
    failed = txn(starrocks, "load", db, label, b'{"id":null}', **JSON)
    assert failed["Status"] == "FAILED"
    assert starrocks.http.load_state(db, label) == "ABORTED"


def test_idle_transaction_timeout_aborts_an_idle_transaction(starrocks, db):
    if starrocks.emulator is None:
        pytest.skip(
            "needs the emulator: waiting out a real FE's timeout checker takes too long for the suite"
        )
    label = new_label()
    txn(starrocks, "begin", db, label, idle_transaction_timeout="1")
    deadline = time.monotonic() + 10
    while starrocks.http.load_state(db, label) != "ABORTED" and time.monotonic() < deadline:
        time.sleep(0.2)
    assert starrocks.http.load_state(db, label) == "ABORTED"
    assert txn(starrocks, "load", db, label, b'{"id":1}', **JSON)["Status"] == "FAILED"
