"""Multi-table transactions of the Stream Load transaction interface (StarRocks 4.0), as the emulator plays them.

docs/en/loading/Stream_Load_transaction_interface.md (4.0): loads into several tables of one database in one
transaction, `transaction_type: multi` on every operation. fe `TransactionLoadAction` (the header),
`MultiStatementTransactionHandler` (begin/load/commit/rollback; anything else "Unsupported operation"),
`StreamLoadMgr`, `StreamLoadMultiStmtTask` (what each answers): see starrocks_emulator/be/
multi_table_transactions.py. Emulator-only: each module needs a release (`--starrocks-version`).
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator

import pytest

from integration_tests.conftest import StarRocksTarget, target_for
from integration_tests.emulator_setup import created_database
from starrocks_emulator.process import EmulatorProcess

pytestmark = pytest.mark.emulator_only

TABLE = (
    "CREATE TABLE `{db}`.`{table}` (id BIGINT NOT NULL) DUPLICATE KEY(id) DISTRIBUTED BY HASH(id) BUCKETS 2"
)
MULTI = {"transaction_type": "multi", "format": "json", "timeout": "60"}
FE_EXCEPTION = "class com.starrocks.common.StarRocksException"


@pytest.fixture(scope="module")
def sr40() -> Iterator[StarRocksTarget]:
    with EmulatorProcess(frontends=2, backends=2, starrocks_version="4.0.1") as emu:
        yield target_for(emu)


@pytest.fixture
def db(sr40: StarRocksTarget, fresh_database: str) -> Iterator[str]:
    statements = [TABLE.replace("{table}", name) for name in ("t", "u")]
    with created_database(sr40, fresh_database, *statements) as name:
        yield name


def op(target: StarRocksTarget, name: str, db: str, label: str, table: str | None = None, body: bytes | None = None, **headers: str) -> dict:  # fmt: skip
    response = target.http.transaction(name, db, label, table=table, body=body, headers={**MULTI, **headers})
    assert response.status_code == 200, response.text
    return response.json()


def counts(target: StarRocksTarget, db: str) -> tuple[int, int]:
    """Both tables' row counts in ONE statement (one snapshot of the emulator's storage)."""
    with target.connect(db) as conn, conn.cursor() as cur:
        cur.execute("SELECT (SELECT count(*) FROM t), (SELECT count(*) FROM u)")
        t, u = cur.fetchone()
    return int(t), int(u)


def versions(target: StarRocksTarget, db: str, table: str) -> int:
    assert target.emulator is not None
    return target.emulator.stats()["tables"][f"{db}.{table}"]["versions_created"]


def rows(first: int, count: int) -> bytes:
    return "\n".join(f'{{"id":{i}}}' for i in range(first, first + count)).encode()


def new_label() -> str:
    return f"multi_{uuid.uuid4().hex}"


def test_one_transaction_loads_two_tables_and_nothing_is_visible_before_its_commit(sr40, db):
    label = new_label()
    assert op(sr40, "begin", db, label) == {"Status": "OK", "Message": ""}  # no `table`: the FE answers
    for table, first in (("t", 0), ("u", 100), ("t", 10)):  # two chunks into t
        loaded = op(sr40, "load", db, label, table, rows(first, 5))
        assert loaded["Status"] == "OK", loaded
        assert counts(sr40, db) == (0, 0)  # a query between the loads and the commit sees none of them
    assert sr40.http.load_state(db, label) == "PREPARE"
    assert op(sr40, "commit", db, label) == {"Status": "OK", "Message": ""}
    assert counts(sr40, db) == (10, 5)
    assert (versions(sr40, db, "t"), versions(sr40, db, "u")) == (1, 1)  # one version on each table
    assert sr40.http.load_state(db, label) == "VISIBLE"
    again = op(sr40, "commit", db, label)
    assert again["Status"] == "OK" and again["Message"].endswith(f"has already committed, label is {label}")
    reused = op(sr40, "begin", db, label)
    assert reused["Status"] == "LABEL_ALREADY_EXISTS"
    assert reused["Message"] == f"Label [{label}] has already been used."


def test_a_reader_never_sees_one_table_ahead_of_the_other(sr40, db):
    seen: list[tuple[int, int]] = []
    done = threading.Event()

    def read() -> None:
        with sr40.connect(db) as conn, conn.cursor() as cur:
            while not done.is_set():
                cur.execute("SELECT (SELECT count(*) FROM t), (SELECT count(*) FROM u)")
                seen.append(tuple(int(n) for n in cur.fetchone()))

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for n in range(8):
            label = new_label()
            op(sr40, "begin", db, label)
            op(sr40, "load", db, label, "t", rows(n * 100, 50))
            op(sr40, "load", db, label, "u", rows(n * 100, 50))
            assert op(sr40, "commit", db, label)["Status"] == "OK"
    finally:
        done.set()
        reader.join()
    assert counts(sr40, db) == (400, 400)
    assert len({t for t, _ in seen}) > 2  # the reader saw several commits happen
    assert all(t == u for t, u in seen), [c for c in seen if c[0] != c[1]][:5]


def test_prepare_is_not_an_operation_of_a_multi_table_transaction(sr40, db):
    label = new_label()
    op(sr40, "begin", db, label)
    op(sr40, "load", db, label, "t", rows(0, 1))
    refused = op(sr40, "prepare", db, label)
    assert refused == {"Status": "FAILED", "Message": f"{FE_EXCEPTION}: Unsupported operation: TXN_PREPARE"}
    assert op(sr40, "commit", db, label)["Status"] == "OK"  # the transaction is untouched
    assert counts(sr40, db) == (1, 0)


def test_rollback_aborts_every_table_and_the_label_stays_taken(sr40, db):
    label = new_label()
    op(sr40, "begin", db, label)
    op(sr40, "load", db, label, "t", rows(0, 3))
    op(sr40, "load", db, label, "u", rows(0, 3))
    assert op(sr40, "rollback", db, label) == {"Status": "OK", "Message": f"stream load {label} abort"}
    assert counts(sr40, db) == (0, 0)
    assert sr40.http.load_state(db, label) == "ABORTED"
    refused = op(sr40, "commit", db, label)
    assert refused["Status"] == "FAILED" and refused["Message"].startswith("Can not commit CANCELLED")
    again = op(sr40, "begin", db, label)  # the FE still keeps the task: not reusable as a single-table one
    assert again["Status"] == "LABEL_ALREADY_EXISTS"
    assert again["Message"].startswith(f"Transaction already started with label [{label}], txnId: ")


def test_a_load_into_an_unknown_table_aborts_the_transaction(sr40, db):
    label = new_label()
    op(sr40, "begin", db, label)
    op(sr40, "load", db, label, "t", rows(0, 3))
    refused = op(sr40, "load", db, label, "nope", rows(0, 1))
    assert refused == {
        "Status": "FAILED",
        "Message": f"class com.starrocks.common.MetaNotFoundException: Failed to find table nope in db {db}",
    }
    assert sr40.http.load_state(db, label) == "ABORTED"
    assert op(sr40, "commit", db, label)["Status"] == "FAILED"
    assert counts(sr40, db) == (0, 0)


def test_rows_rejected_at_commit_fail_it_with_the_error_url(sr40, db):
    label = new_label()
    op(sr40, "begin", db, label)
    op(sr40, "load", db, label, "u", rows(0, 2))
    op(sr40, "load", db, label, "t", b'{"id":null}')  # NOT NULL: filtered, and max_filter_ratio is 0
    failed = op(sr40, "commit", db, label)
    assert failed["Status"] == "FAILED" and failed["Message"] == "too many filtered rows"
    assert "/api/_load_error_log?file=" in failed["ErrorURL"]
    assert sr40.http.load_state(db, label) == "ABORTED" and counts(sr40, db) == (0, 0)


def test_a_commit_statement_that_fails_rolls_back_but_answers_ok(sr40, db):
    """StreamLoadMultiStmtTask.commitTxn sets no error on the response when commitStmt fails: only the label's
    state tells (a client must read it)."""
    assert sr40.emulator is not None
    label = new_label()
    op(sr40, "begin", db, label)
    op(sr40, "load", db, label, "t", rows(0, 2))
    sr40.emulator.set_fault("too_many_versions", count=1)
    assert op(sr40, "commit", db, label) == {"Status": "OK", "Message": ""}
    assert sr40.http.load_state(db, label) == "ABORTED" and counts(sr40, db) == (0, 0)


def test_the_whole_transaction_is_bounded_by_its_timeout(sr40, db):
    label = new_label()
    op(sr40, "begin", db, label, timeout="1")
    op(sr40, "load", db, label, "t", rows(0, 1))
    deadline = time.monotonic() + 10
    while sr40.http.load_state(db, label) != "ABORTED" and time.monotonic() < deadline:
        time.sleep(0.2)
    assert sr40.http.load_state(db, label) == "ABORTED"
    refused = op(sr40, "load", db, label, "t", rows(1, 1))
    assert (
        refused["Status"] == "FAILED"
        and "has already been cancelled: transaction timeout after 1000ms" in refused["Message"]
    )


def test_every_operation_works_through_a_follower(sr40, db):
    follower = sr40.follower
    assert follower is not None
    label = new_label()
    assert op(follower, "begin", db, label)["Status"] == "OK"
    assert op(follower, "load", db, label, "t", rows(0, 2))["Status"] == "OK"
    assert op(follower, "load", db, label, "u", rows(0, 1))["Status"] == "OK"
    assert op(follower, "commit", db, label)["Status"] == "OK"
    assert counts(sr40, db) == (2, 1) and follower.http.load_state(db, label) == "VISIBLE"


def test_before_4_0_the_header_is_not_read_and_a_second_table_is_refused(fresh_database):
    with EmulatorProcess(starrocks_version="3.5.4") as emu:
        sr = target_for(emu)
        with created_database(sr, fresh_database, *[TABLE.replace("{table}", n) for n in ("t", "u")]) as db:
            without_table = op(sr, "begin", db, new_label())
            assert without_table["Status"] == "ANALYSIS_ERROR"  # a single-table begin on the BE: no table
            label = new_label()
            assert op(sr, "begin", db, label, "t")["Status"] == "OK"
            refused = op(sr, "load", db, label, "u", rows(0, 1))
            assert refused["Status"] == "INVALID_ARGUMENT"
            assert refused["Message"] == "Request table u not equal transaction table t"
