"""One transaction per checkpoint across tables, end to end: the real connector against a 4.0 emulator (multi-
table transactions, be/multi_table_transactions.py) and, for the fallback, a 3.x one.

Emulator-only: each module starts emulators playing given releases (`starrocks_version`).
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from typing import Any

import pymysql
import pytest

from destination_starrocks.checkpoint_span import checkpoint_label
from destination_starrocks.labels import table_tag
from integration_tests.chaos import ConnectorProcess
from integration_tests.connector import (
    catalog,
    config_for,
    connect,
    global_state,
    record,
    run_connector,
    stream,
    stream_state,
)
from starrocks_emulator.process import EmulatorProcess

pytestmark = pytest.mark.emulator_only

STREAMS = ("orders", "order_items")


@pytest.fixture(scope="module")
def sr40() -> Iterator[EmulatorProcess]:
    with EmulatorProcess(frontends=2, backends=2, starrocks_version="4.0.1") as emu:
        yield emu


def source(count: int, every: int, first: int = 0) -> list[bytes]:
    """Both streams' records in step, a GLOBAL state after every `every` records of each."""
    lines = []
    for i in range(first, first + count):
        lines += [record(name, {"id": i, "name": f"{name} {i}"}) for name in STREAMS]
        if (i + 1) % every == 0:
            lines.append(global_state({"next": i + 1}))
    return lines


def both_counts(target: Any, database: str) -> tuple[int, int] | None:
    sql = "SELECT " + ", ".join(f"(SELECT count(*) FROM `{database}`.`{name}`)" for name in STREAMS)
    try:
        with connect(target) as conn, conn.cursor() as cursor:
            cursor.execute(sql)
            a, b = cursor.fetchone()
    except pymysql.MySQLError:
        return None  # the tables do not exist yet
    return int(a), int(b)


def loads(target: Any, database: str) -> list[tuple[str, str, str]]:
    """(LABEL, TABLE_NAME, STATE) of this sync's loads into `database`, told by their labels: a table's
    (labels.table_tag) or a checkpoint transaction's (checkpoint_span.checkpoint_label)."""
    marks = [table_tag(database, name) for name in STREAMS]
    marks.append(checkpoint_label("x", database, "x", 1).split("-")[2])
    with connect(target) as conn, conn.cursor() as cursor:
        cursor.execute("SELECT LABEL, TABLE_NAME, STATE FROM information_schema.loads")
        rows = [tuple(row) for row in cursor.fetchall()]
    return [row for row in rows if any(mark in row[0] for mark in marks)]


def config(target: Any, database: str, **overrides: Any) -> dict[str, Any]:
    settings = {"transaction_stream_load": "auto", "flush_interval_seconds": 0.3, "batch_size": 2000}
    return config_for(target, database=database, **{**settings, **overrides})


def test_a_reader_never_sees_one_table_ahead_of_the_other(sr40, fresh_database):
    seen: list[tuple[int, int]] = []
    done = threading.Event()

    def read() -> None:
        while not done.is_set():
            if (counts := both_counts(sr40, fresh_database)) is not None:
                seen.append(counts)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    lines = source(3000, every=50)
    settings = config(sr40, fresh_database, batch_size=400)  # a commit per 200 records of each, or per 0.3 s
    with ConnectorProcess(settings, catalog(*(stream(n) for n in STREAMS))) as connector:
        for first in range(0, len(lines), 200):  # ~2 s of input: several commits while the reader reads
            assert connector.send(lines[first : first + 200])
            time.sleep(0.02)
        assert connector.wait() == 0, connector.stderr[-3000:]
        states = connector.states
    done.set()
    reader.join(10)
    assert both_counts(sr40, fresh_database) == (3000, 3000)
    assert len(states) == 60
    changes = sorted({a for a, _ in seen})
    assert len(changes) > 3, changes  # the reader saw several checkpoints land
    assert all(a == b for a, b in seen), [c for c in seen if c[0] != c[1]][:5]
    labels = {label for label, _, _ in loads(sr40, fresh_database)}
    assert labels and all("-ckpt-" in label for label in labels)  # every commit a checkpoint transaction
    assert all(c[0] % 50 == 0 for c in seen)  # and always exactly at a checkpoint


def test_a_3x_server_loads_table_by_table_and_says_why_once(fresh_database):
    with EmulatorProcess(starrocks_version="3.5.4") as sr35:
        run = run_connector(
            "write", config(sr35, fresh_database), catalog(*(stream(n) for n in STREAMS)), source(600, 100)
        )
        assert run.returncode == 0, run.stderr[-3000:]
        assert both_counts(sr35, fresh_database) == (600, 600)
        labels = loads(sr35, fresh_database)
    assert labels and not any("-ckpt-" in label for label, _, _ in labels)
    assert {table for _, table, _ in labels} == set(STREAMS)  # one table per transaction, as before
    said = [m for m in run.logs if "not in one transaction per checkpoint" in m]
    assert len(said) == 1
    assert "StarRocks 3.5.4 has no transactions spanning several tables (StarRocks 4.0.0+" in said[0]
    assert len(run.states) == 6


def test_stream_states_on_4_0_load_table_by_table(sr40, fresh_database):
    lines = []
    for i in range(400):
        lines += [record(name, {"id": i, "name": "n"}) for name in STREAMS]
        if (i + 1) % 100 == 0:
            lines += [stream_state(name, i + 1) for name in STREAMS]
    run = run_connector("write", config(sr40, fresh_database), catalog(*(stream(n) for n in STREAMS)), lines)
    assert run.returncode == 0, run.stderr[-3000:]
    assert both_counts(sr40, fresh_database) == (400, 400)
    assert not any("-ckpt-" in label for label, _, _ in loads(sr40, fresh_database))
    assert sum("The source sends STREAM states" in m for m in run.logs) == 1


def test_a_commit_whose_answer_is_lost_is_committed_once(sr40, fresh_database):
    sr40.set_fault("commit_then_cut", count=1)
    run = run_connector(
        "write", config(sr40, fresh_database), catalog(*(stream(n) for n in STREAMS)), source(500, 100)
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert both_counts(sr40, fresh_database) == (500, 500)  # not loaded twice
    assert len(run.states) == 5
    assert any("but its label is VISIBLE: committed" in m for m in run.logs)


def test_a_commit_answered_ok_but_rolled_back_releases_nothing_and_the_next_attempt_resumes(
    sr40, fresh_database
):
    streams = catalog(*(stream(n) for n in STREAMS))
    sr40.set_fault("too_many_versions", count=1)
    failed = run_connector(
        "write", config(sr40, fresh_database, flush_interval_seconds=60), streams, source(300, 100)
    )
    assert failed.returncode == 1
    assert failed.errors and failed.errors[0]["failure_type"] == "transient_error"
    assert (
        "did not commit" in failed.errors[0]["message"]
        and "label state ABORTED" in failed.errors[0]["message"]
    )
    assert failed.states == [] and both_counts(sr40, fresh_database) == (0, 0)
    retried = run_connector("write", config(sr40, fresh_database), streams, source(300, 100))
    assert retried.returncode == 0, retried.stderr[-3000:]
    assert both_counts(sr40, fresh_database) == (300, 300) and len(retried.states) == 3


def test_every_operation_goes_through_a_follower_fe(sr40, fresh_database):
    follower = sr40.follower
    settings = config(sr40, fresh_database, http_port=follower.http_port, query_port=follower.query_port)
    run = run_connector("write", settings, catalog(*(stream(n) for n in STREAMS)), source(400, 100))
    assert run.returncode == 0, run.stderr[-3000:]
    assert both_counts(sr40, fresh_database) == (400, 400)
    assert all("-ckpt-" in label for label, _, _ in loads(sr40, fresh_database))


def test_sigterm_rolls_back_the_open_checkpoint_transaction(fresh_database):
    # GLOBAL state 1 commits the first checkpoint transaction; then 1 KiB chunks go into the second, which
    # nothing commits before the signal: the connector must roll it back, not leave it to its timeout.
    with EmulatorProcess(starrocks_version="4.0.1") as emu:
        settings = config(
            emu, fresh_database, batch_bytes=1024, batch_size=1_000_000, flush_interval_seconds=0
        )
        with ConnectorProcess(settings, catalog(*(stream(n) for n in STREAMS))) as connector:
            assert connector.send(source(100, every=100))
            assert connector.wait_for_states(1, timeout=30), connector.stderr[-3000:]
            assert connector.send(source(100, every=1000, first=100))  # records only: chunks, no STATE
            deadline = time.monotonic() + 30
            while not (running := [row for row in loads(emu, fresh_database) if row[2] == "LOADING"]):
                assert time.monotonic() < deadline, "no open checkpoint transaction"
                time.sleep(0.05)
            ((label, _, _),) = running
            connector.proc.send_signal(signal.SIGTERM)
            assert connector.proc.wait(timeout=30) == 128 + signal.SIGTERM
            connector._reader.join(timeout=10)
            stopped = [m["log"]["message"] for m in connector.messages if m.get("type") == "LOG"]
            stopped = [m for m in stopped if m.startswith("Stopped by")]
            assert len(connector.states) == 1
        assert both_counts(emu, fresh_database) == (100, 100)
        assert "-ckpt-" in label and f"checkpoint transaction {label}" in stopped[0], stopped
        assert [row[2] for row in loads(emu, fresh_database) if row[0] == label] == ["CANCELLED"]


def test_an_overwrite_and_a_dedup_stream_share_the_checkpoint_transactions(sr40, fresh_database):
    """The overwrite stream loads its staging table inside the same transactions (same database) and is
    swapped in at its end; the dedup stream's rows keep their newest record per key."""
    streams = catalog(
        stream("orders", mode="overwrite", generation_id=2, minimum_generation_id=2),
        stream("order_items", mode="append_dedup", primary_key=[["id"]], cursor=["id"]),
    )
    lines = []
    for i in range(600):
        lines += [
            record("orders", {"id": i, "name": "o"}),
            record("order_items", {"id": i % 50, "name": "i"}),
        ]
        if (i + 1) % 100 == 0:
            lines.append(global_state({"next": i + 1}))
    run = run_connector("write", config(sr40, fresh_database), streams, lines)
    assert run.returncode == 0, run.stderr[-3000:]
    assert both_counts(sr40, fresh_database) == (600, 50)
    assert len(run.states) == 6
    labels = [label for label, _, _ in loads(sr40, fresh_database)]
    assert labels and all("-ckpt-" in label for label in labels)
