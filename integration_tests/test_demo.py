"""`make demo` end to end, small: the real source-faker into the connector into the emulator, and its report.

Contract: `python -m demo --records N` exits 0, prints per table the rows (equal to the records sent for the
stream), the loads and the versions (far fewer than one per record), says how to use a real StarRocks, and
leaves no emulator running. The source's venv is created on first use under .demo/ (shared with `make demo`),
which needs the package index: when it cannot be created this test FAILS, it does not skip: the demo is one of
the two commands the README promises.

Cost: ~40 s to create the source venv the first time, then ~10 s per run.
"""

from __future__ import annotations

import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

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
