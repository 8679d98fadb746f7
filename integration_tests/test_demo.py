"""`make demo` end to end, small: the real source-faker into the connector into the emulator, and its report.

Contract: `python -m demo --records N` exits 0, prints per table the rows (equal to the records sent for the
stream), the loads and the versions (far fewer than one per record), says how to use a real StarRocks, and
leaves no emulator running. The source's venv is created on first use under .demo/ (shared with `make demo`),
which needs the package index: when it cannot be created this test FAILS, it does not skip: the demo is one of
the two commands the README promises.

Cost: ~40 s to create the source venv the first time, then ~10 s per run.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from integration_tests.connector import connect

ROOT = Path(__file__).resolve().parent.parent
RECORDS = 4000
STREAMS = ("products", "purchases", "users")
# A table line of the report: name, rows, loads, versions created, versions now, "N versions", "Mx".
TABLE_LINE = re.compile(
    r"^\s+(?P<table>\w+)\s+(?P<rows>[\d,]+)\s+(?P<loads>[\d,]+|n/a)\s+(?P<created>[\d,]+|n/a)\s+"
    r"(?P<now>[\d,]+|n/a)\s+(?P<naive>[\d,]+) versions\s+(?P<fewer>[\d,]+x|n/a)$",
    re.MULTILINE,
)


def _int(text: str) -> int:
    return int(text.replace(",", ""))


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> subprocess.CompletedProcess[str]:
    run_dir = tmp_path_factory.mktemp("demo-run")
    return subprocess.run(
        [sys.executable, "-m", "demo", "--records", str(RECORDS), "--run-dir", str(run_dir)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1200,  # creating the source's venv on a cold machine, then a run of a few seconds
    )


@pytest.mark.timeout(1500)
def test_demo_exits_zero_and_reports_every_stream(demo_run: subprocess.CompletedProcess[str]) -> None:
    assert demo_run.returncode == 0, demo_run.stdout[-4000:] + demo_run.stderr[-4000:]
    tables = {match["table"]: match for match in TABLE_LINE.finditer(demo_run.stdout)}
    assert set(STREAMS) <= set(tables), demo_run.stdout


@pytest.mark.timeout(1500)
def test_demo_rows_equal_records_sent_and_versions_are_far_fewer(
    demo_run: subprocess.CompletedProcess[str],
) -> None:
    tables = {match["table"]: match for match in TABLE_LINE.finditer(demo_run.stdout)}
    total_rows = 0
    for stream in STREAMS:
        line = tables[stream]
        rows, naive = _int(line["rows"]), _int(line["naive"])
        assert rows == naive > 0  # every record sent is a row; one INSERT per record = one version per row
        loads, created = _int(line["loads"]), _int(line["created"])
        assert 1 <= loads <= created
        assert created * 10 <= rows, line.group(0)
        total_rows += rows
    assert abs(total_rows - RECORDS) <= 2


@pytest.mark.timeout(1500)
def test_demo_shows_progress_and_how_to_use_a_real_starrocks(
    demo_run: subprocess.CompletedProcess[str],
) -> None:
    out = demo_run.stdout
    assert "records sent:" in out
    assert "(source done)" in out
    assert "destination: INFO" in out  # the connector's own LOG lines pass through
    assert "STARROCKS_HOST" in out
    sent, returned = re.search(r"([\d,]+) STATE messages sent, ([\d,]+) returned", out).groups()
    assert _int(sent) > 0 and _int(sent) == _int(returned)


@pytest.mark.timeout(1500)
def test_demo_stops_the_emulator_it_started(demo_run: subprocess.CompletedProcess[str]) -> None:
    match = re.search(r"bundled StarRocks emulator at ([\d.]+):(\d+)", demo_run.stdout)
    if match is None:
        assert "real StarRocks" in demo_run.stdout  # STARROCKS_HOST was set: nothing was started
        return
    with socket.socket() as probe:
        probe.settimeout(2)
        assert probe.connect_ex((match[1], int(match[2]))) != 0, "the demo's emulator is still listening"


@pytest.mark.timeout(1500)
@pytest.mark.parametrize("mode", ["append", "overwrite", "append_dedup"])
def test_a_real_source_lands_typed_queryable_tables_in_every_sync_mode(
    emulator, tmp_path: Path, mode: str
) -> None:
    """source-faker through the demo into a StarRocks the test keeps (the demo's STARROCKS_HOST path), so the
    tables can be inspected after it: typed columns, the Airbyte columns, and one row per record."""
    env = {
        **os.environ,
        "STARROCKS_HOST": emulator.host,
        "STARROCKS_QUERY_PORT": str(emulator.query_port),
        "STARROCKS_HTTP_PORT": str(emulator.http_port),
        "STARROCKS_USER": "root",
        "STARROCKS_PASSWORD": "",
    }
    database = f"demo_{mode}"
    command = [sys.executable, "-m", "demo", "--records", "600", "--mode", mode, "--database", database]
    run = subprocess.run(
        [*command, "--run-dir", str(tmp_path)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    with connect(emulator) as conn, conn.cursor() as cursor:
        cursor.execute(f"DESC `{database}`.`users`")
        types = {row[0]: row[1].upper() for row in cursor.fetchall()}
        cursor.execute(f"SELECT COUNT(*), COUNT(DISTINCT `id`), MAX(`age`) FROM `{database}`.`users`")
        rows, ids, max_age = cursor.fetchone()
        cursor.execute(f"SHOW CREATE TABLE `{database}`.`users`")
        ddl = cursor.fetchone()[1].upper()
    assert (
        types["_AIRBYTE_RAW_ID".lower()].startswith("VARCHAR")
        and types["_airbyte_extracted_at"] == "DATETIME"
    )
    assert types["id"] == "BIGINT" and types["age"] == "BIGINT" and types["created_at"] == "DATETIME"
    assert rows == ids > 0 and max_age is not None  # queryable: one row per user (no duplicate), typed values
    assert ("PRIMARY KEY" in ddl) == (mode == "append_dedup")
