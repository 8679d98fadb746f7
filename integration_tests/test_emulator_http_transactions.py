"""The Stream Load transaction interface, as StarRocks implements it; runs against a real StarRocks too.

https://docs.starrocks.io/docs/loading/Stream_Load_transaction_interface/ (begin / load / prepare / commit /
rollback, one version per commit, labels), and the source that answers: fe TransactionLoadAction and
TransactionWithoutChannelHandler (follower -> leader, begin/load/prepare -> the coordinator BE, commit and
rollback of a PREPARED transaction on the leader), be transaction_mgr.cpp and transaction_stream_load.cpp
(TStatusCode names: OK, INTERNAL_ERROR, TXN_NOT_EXISTS, LABEL_ALREADY_EXISTS, INVALID_ARGUMENT, ...).
The client follows every 307 with the credentials, as curl --location-trusted does.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pymysql.cursors
import pytest
import requests

TABLE = "CREATE TABLE `{db}`.`{table}` (id BIGINT NOT NULL, name VARCHAR(20)) DUPLICATE KEY(id) DISTRIBUTED BY HASH(id) BUCKETS 2"
JSON = {"format": "json"}
FE_EXCEPTION = "class com.starrocks.common.StarRocksException"


@pytest.fixture
def db(starrocks: Any, fresh_database: str) -> Iterator[str]:
    with starrocks.connect() as conn, conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE `{fresh_database}`")
        cur.execute(TABLE.format(db=fresh_database, table="t"))
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


def txn(
    target: Any, op: str, db: str, label: str, body: bytes | None = None, table: str = "t", **headers: str
) -> dict:
    response = target.http.transaction(op, db, label, table=table, body=body, headers=headers)
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
    committed = txn(starrocks, "commit", db, label)  # still PREPARE: the leader sends it to the BE
    assert committed["Status"] == "OK" and committed["NumberLoadedRows"] == 6
    assert ids(starrocks, db) == [0, 1, 2, 10, 11, 12]
    assert version_count(starrocks, db) == before + 1
    assert starrocks.http.load_state(db, label) == "VISIBLE"


def test_begin_load_prepare_are_redirected_to_one_be_and_commit_is_answered_by_the_leader(starrocks, db):
    label = new_label()
    urls = {}
    for op, body in (("begin", None), ("load", b'{"id":1}'), ("prepare", None), ("commit", None)):
        response = starrocks.http.transaction(op, db, label, "t", body, JSON)
        assert response.json()["Status"] == "OK", response.text
        urls[op] = urlsplit(response.url)
    assert len({(urls[op].hostname, urls[op].port) for op in ("begin", "load", "prepare")}) == 1
    assert urls["commit"].port == urlsplit(starrocks.http.base).port  # the leader committed the PREPARED txn
    if starrocks.emulator is not None:
        assert urls["begin"].port in [be.http_port for be in starrocks.emulator.backends]


def test_prepare_then_commit_publishes_and_a_second_commit_says_already_committed(starrocks, db):
    label = new_label()
    begun = txn(starrocks, "begin", db, label)
    txn(starrocks, "load", db, label, b'{"id":1}', **JSON)
    prepared = txn(starrocks, "prepare", db, label)
    assert prepared["Status"] == "OK" and prepared["NumberTotalRows"] == 1
    assert starrocks.http.load_state(db, label) == "PREPARED"
    assert txn(starrocks, "commit", db, label)["Status"] == "OK"
    again = txn(starrocks, "commit", db, label)
    assert again["Status"] == "OK"
    assert again["Message"] == f"Transaction {begun['TxnId']} has already committed, label is {label}"
    assert ids(starrocks, db) == [1]


def test_load_after_prepare_answers_txn_not_exists(starrocks, db):
    label = new_label()
    txn(starrocks, "begin", db, label)
    txn(starrocks, "load", db, label, b'{"id":1}', **JSON)
    txn(starrocks, "prepare", db, label)
    refused = txn(starrocks, "load", db, label, b'{"id":2}', **JSON)
    assert refused["Status"] == "TXN_NOT_EXISTS"
    assert refused["Message"] == f"Transaction with label {label} not exists"
    assert starrocks.http.load_state(db, label) == "PREPARED"  # the prepared transaction is untouched


@pytest.mark.parametrize("op", ["prepare", "commit"])
def test_prepare_or_commit_without_data_fails_and_aborts(starrocks, db, op):
    label = new_label()
    txn(starrocks, "begin", db, label)
    refused = txn(starrocks, op, db, label)
    assert refused["Status"] == "INTERNAL_ERROR"
    assert refused["Message"].endswith("hasn't send any data yet") and f"label={label}" in refused["Message"]
    assert starrocks.http.load_state(db, label) == "ABORTED"


def test_rollback_discards_the_rows_and_aborts_the_label(starrocks, db):
    label = new_label()
    txn(starrocks, "begin", db, label)
    txn(starrocks, "load", db, label, b'{"id":1}', **JSON)
    assert txn(starrocks, "rollback", db, label)["Status"] == "OK"
    assert ids(starrocks, db) == []
    assert starrocks.http.load_state(db, label) == "ABORTED"


def test_rollback_of_a_prepared_transaction_is_answered_by_the_leader(starrocks, db):
    label = new_label()
    begun = txn(starrocks, "begin", db, label)
    txn(starrocks, "load", db, label, b'{"id":1}', **JSON)
    txn(starrocks, "prepare", db, label)
    assert txn(starrocks, "rollback", db, label)["Status"] == "OK"
    again = txn(starrocks, "rollback", db, label)
    assert again["Status"] == "OK"
    assert again["Message"] == f"Transaction {begun['TxnId']} has already aborted, label is {label}"
    refused = txn(starrocks, "commit", db, label)
    assert refused["Status"] == "FAILED"
    assert refused["Message"] == (
        f"{FE_EXCEPTION}: Can not commit ABORTED transaction {begun['TxnId']}, label is {label}"
    )


def test_begin_with_a_used_label_answers_label_already_exists(starrocks, db):
    label = new_label()
    txn(starrocks, "begin", db, label)
    running = txn(starrocks, "begin", db, label)  # the same coordinator BE still holds it
    assert running["Status"] == "LABEL_ALREADY_EXISTS"
    txn(starrocks, "load", db, label, b'{"id":1}', **JSON)
    txn(starrocks, "commit", db, label)
    finished = txn(starrocks, "begin", db, label)
    assert finished["Status"] == "LABEL_ALREADY_EXISTS" and finished["ExistingJobStatus"] == "FINISHED"
    assert finished["Message"] == f"Label [{label}] has already been used."


def test_a_label_is_reusable_only_after_it_was_aborted(starrocks, db):
    label = new_label()
    txn(starrocks, "begin", db, label)
    txn(starrocks, "rollback", db, label)
    assert txn(starrocks, "begin", db, label)["Status"] == "OK"
    txn(starrocks, "load", db, label, b'{"id":4}', **JSON)
    assert txn(starrocks, "commit", db, label)["Status"] == "OK"
    assert ids(starrocks, db) == [4]


def test_operations_on_an_unknown_transaction_fail(starrocks, db):
    label = new_label()
    answer = txn(starrocks, "commit", db, label)
    assert answer["Status"] == "FAILED"
    assert answer["Message"] == f"{FE_EXCEPTION}: No transaction found with db[{db}] and label[{label}]"
    assert txn(starrocks, "load", db, label, b'{"id":1}', **JSON)["Status"] == "FAILED"


def test_a_missing_label_or_database_is_refused_by_the_fe(starrocks, db):
    assert txn(starrocks, "begin", db, "")["Message"] == f"{FE_EXCEPTION}: Empty label."
    assert txn(starrocks, "begin", "", new_label())["Message"] == f"{FE_EXCEPTION}: No database selected."


def test_too_many_filtered_rows_fail_at_prepare_not_at_load(starrocks, db):
    """be stream_load_executor.cpp checks the filter ratio when the fragment finishes, i.e. at prepare."""
    label = new_label()
    txn(starrocks, "begin", db, label)
    loaded = txn(starrocks, "load", db, label, b'{"id":null}\n{"id":2}', **JSON)
    assert loaded["Status"] == "OK"
    failed = txn(starrocks, "prepare", db, label)
    assert failed["Status"] == "INTERNAL_ERROR" and failed["Message"] == "too many filtered rows"
    assert requests.get(failed["ErrorURL"], timeout=30).text.strip()
    assert starrocks.http.load_state(db, label) == "ABORTED"
    assert ids(starrocks, db) == []


def test_one_transaction_loads_one_table(starrocks, db):
    with starrocks.connect() as conn, conn.cursor() as cur:
        cur.execute(TABLE.format(db=db, table="u"))
    label = new_label()
    txn(starrocks, "begin", db, label)
    refused = txn(starrocks, "load", db, label, b'{"id":1}', table="u", **JSON)
    assert refused["Status"] == "INVALID_ARGUMENT"
    assert refused["Message"] == "Request table u not equal transaction table t"


def test_a_be_begins_a_transaction_only_with_credentials(starrocks, db):
    """be transaction_mgr.cpp: begin parses Basic auth itself; without it, INTERNAL_ERROR."""
    probe = starrocks.http.request(
        "PUT",
        f"/api/{db}/t/_stream_load",
        b"{}",
        {"label": new_label(), **JSON},
        follow=False,
    )
    assert probe.status_code == 307
    be = urlsplit(probe.headers["location"])
    answer = requests.post(
        f"http://{be.hostname}:{be.port}/api/transaction/begin",
        headers={"label": new_label(), "db": db, "table": "t"},
        timeout=30,
    )
    assert answer.status_code == 200
    assert answer.json() == {"Status": "INTERNAL_ERROR", "Message": "no valid Basic authorization"}


@pytest.mark.emulator_only
def test_idle_transaction_timeout_aborts_an_idle_transaction(starrocks, db):
    label = new_label()
    txn(starrocks, "begin", db, label, idle_transaction_timeout="1")
    deadline = time.monotonic() + 10
    while starrocks.http.load_state(db, label) != "ABORTED" and time.monotonic() < deadline:
        time.sleep(0.2)
    assert starrocks.http.load_state(db, label) == "ABORTED"
    assert txn(starrocks, "load", db, label, b'{"id":1}', **JSON)["Status"] == "TXN_NOT_EXISTS"


def test_the_whole_interface_works_through_a_follower(starrocks, follower, db):
    label = new_label()
    for op, body in (("begin", None), ("load", b'{"id":8}'), ("prepare", None), ("commit", None)):
        response = follower.http.transaction(op, db, label, "t", body, JSON)
        assert response.json()["Status"] == "OK", response.text
    assert follower.http.load_state(db, label) == "VISIBLE"
    assert ids(starrocks, db) == [8]
