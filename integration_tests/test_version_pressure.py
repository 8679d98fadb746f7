"""Version-aware loading, end to end: a chatty source against slow compaction never causes an avalanche.

The scenario (issue 14): a source that sends a STATE after every record, `flush_interval_seconds: 0` (every
STATE a load, today), and an emulator whose compaction merges only 2 versions per second per tablet with
`tablet_max_versions` 60. With the adaptation switched off (`version_ceiling: 0`, exactly the connector before
it: no reads, the same flush rules) the table reaches "Too many versions"; with it on (the default ceiling 0.5,
so 30 versions) it never does, every STATE is echoed in order, every record lands once, and no tablet ever held
more than 30 versions (the emulator's peak). Compaction is stopped for the first seconds (the emulator's switch,
`max_compaction_concurrency` 0) so the pressure builds, then turned on so it eases: the log shows the table
slowed down, then sped up again. Emulator-only: each test needs its own compaction settings.
"""

from __future__ import annotations

import re
import time
from typing import Any

import pymysql
import pytest

from integration_tests.chaos import ConnectorProcess
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
from starrocks_emulator.process import EmulatorProcess

pytestmark = pytest.mark.timeout(240)

DATABASE = "pressure"
TABLE = "events"
LIMIT = 60  # tablet_max_versions of the emulator: small, so the scenario takes seconds
COMPACTION_RATE = 2.0  # versions merged per second per tablet: slower than one load per STATE
RECORDS = 1200
PER_SECOND = 100  # the source's pace: a record and its STATE every 10 ms
# StarRocks' refusal, in the emulator's (older BEs') words and in newer BEs' (be/src/storage/delta_writer.cpp).
REFUSALS = ("too many versions. tablet_id", "because of too many versions")


def slow_compaction(**extra: Any) -> EmulatorProcess:
    return EmulatorProcess(
        tablet_max_versions=LIMIT,
        compaction_interval_seconds=0.25,
        compaction_versions_per_second=COMPACTION_RATE,
        **extra,
    )


def chatty(first: int, count: int) -> list[bytes]:
    return [
        line
        for i in range(first, first + count)
        for line in (record(TABLE, {"id": i, "name": f"n{i}"}), stream_state(TABLE, i))
    ]


def set_compaction(emulator: EmulatorProcess, on: bool) -> None:
    with connect(emulator) as conn, conn.cursor() as cursor:
        cursor.execute(
            "UPDATE information_schema.be_configs SET VALUE = %s WHERE NAME = 'max_compaction_concurrency'",
            ("-1" if on else "0",),
        )


def logs(connector: ConnectorProcess) -> list[str]:
    return [m["log"]["message"] for m in list(connector.messages) if m.get("type") == "LOG"]


def refusals(lines: list[str]) -> list[str]:
    return [line for line in lines if any(words in line.lower() for words in REFUSALS)]


def feed(
    connector: ConnectorProcess,
    stop_at_too_many: bool = False,
    on_second: Any = None,
    until: Any = None,
) -> int:
    """Send the chatty source at its pace, RECORDS records, and then on (up to 3 x RECORDS) until `until()` holds:
    on a loaded machine the connector's readings come later, not differently. Returns how many were sent."""
    started = time.monotonic()
    batch = PER_SECOND // 10
    sent = 0
    while sent < RECORDS or (until is not None and not until() and sent < 3 * RECORDS):
        if not connector.send(chatty(sent, batch)):
            return sent
        sent += batch
        if stop_at_too_many and refusals(logs(connector)):
            return sent
        if on_second is not None:
            on_second(time.monotonic() - started)
        time.sleep(max(0.0, started + sent / PER_SECOND - time.monotonic()))
    return sent


def table_stats(emulator: EmulatorProcess) -> dict[str, Any]:
    return emulator.stats()["tables"][f"{DATABASE}.{TABLE}"]


def id_counts(emulator: EmulatorProcess) -> dict[int, int]:
    with connect(emulator) as conn, conn.cursor() as cursor:
        cursor.execute(f"SELECT `id`, COUNT(*) FROM `{DATABASE}`.`{TABLE}` GROUP BY `id`")
        return {int(i): int(n) for i, n in cursor.fetchall()}


def test_without_the_adaptation_a_chatty_source_reaches_too_many_versions():
    with slow_compaction() as emulator:
        config = config_for(emulator, database=DATABASE, flush_interval_seconds=0, version_ceiling=0)
        with ConnectorProcess(config, catalog(stream(TABLE))) as connector:
            feed(connector, stop_at_too_many=True)
            deadline = time.monotonic() + 60
            while not refusals(logs(connector)) and time.monotonic() < deadline:
                time.sleep(0.2)
            refused = refusals(logs(connector))
            assert refused, logs(connector)[-5:]
            # Today's BE wording "current/limit: 61/60", older BEs' "limit: 60" (be storage/delta_writer.cpp).
            assert re.search(rf"(current/limit: \d+/|limit: ){LIMIT}\b", refused[0]), refused[0]
            assert not any(line.startswith(("Slowing down", "Speeding up")) for line in logs(connector))
        assert table_stats(emulator)["peak_version_count"] > LIMIT


def test_with_the_adaptation_the_same_source_never_does_and_every_state_flows():
    ceiling = 0.5 * LIMIT
    with slow_compaction(compaction_stopped=True) as emulator:
        config = config_for(emulator, database=DATABASE, flush_interval_seconds=0)
        switched: list[float] = []

        def compaction_on_after_4s(elapsed: float) -> None:
            if elapsed >= 4 and not switched:
                set_compaction(emulator, on=True)  # pressure has built; now it can ease
                switched.append(elapsed)

        def eased_once() -> bool:
            return any(line.startswith("Speeding up loads into") for line in logs(connector))

        with ConnectorProcess(config, catalog(stream(TABLE))) as connector:
            sent = feed(connector, on_second=compaction_on_after_4s, until=eased_once)
            assert sent >= RECORDS
            code = connector.wait(timeout=120)
            lines = logs(connector)
            assert code == 0, connector.stderr[-3000:]
            assert connector.errors == []
            assert [state_value(s) for s in connector.states] == list(range(sent))
        assert switched
        assert not refusals(lines)
        stats = table_stats(emulator)
        assert stats["peak_version_count"] <= ceiling, stats
        assert stats["loads"] < sent / 10  # not one load per STATE
        counts = id_counts(emulator)
        assert set(counts) == set(range(sent)) and set(counts.values()) == {1}
        slowed = [line for line in lines if line.startswith(f"Slowing down loads into {DATABASE}.{TABLE}")]
        eased = [line for line in lines if line.startswith(f"Speeding up loads into {DATABASE}.{TABLE}")]
        assert slowed and eased, [line for line in lines if "loads into" in line]
        assert "compaction caught up" in eased[0]
        assert any(
            line.startswith(f"Version pressure: tablet_max_versions {LIMIT} (information_schema.be_configs)")
            for line in lines
        )
        summary = next(line for line in lines if line.startswith(f"Table {DATABASE}.{TABLE}: "))
        assert f"{sent} records, {stats['loads']} loads" in summary
        assert (
            f"of {LIMIT} (information_schema.be_tablets)" in summary
            and "0.0s waiting for compaction" in summary
        )


def test_too_many_versions_answers_are_waited_out_counted_and_slow_the_table_down(emulator):
    # Counted, not timed: a connector slow to start (a loaded machine) must still meet the refusal.
    emulator.set_fault("too_many_versions", count=2)
    config = config_for(emulator, database=DATABASE, flush_interval_seconds=60)
    lines = [record(TABLE, {"id": i, "name": "x"}) for i in range(50)] + [stream_state(TABLE, 49)]
    run = run_connector("write", config, catalog(stream(TABLE)), lines, timeout=120)
    assert run.returncode == 0, run.stderr[-3000:]
    assert [state_value(s) for s in run.states] == [49]
    assert any("answered a load with 'too many versions'" in line for line in run.logs), run.logs[-5:]
    summary = next(line for line in run.logs if line.startswith(f"Table {DATABASE}.{TABLE}: "))
    assert "(1 loads refused with 'too many versions')" in summary and "0.0s waiting" not in summary


def test_a_user_without_operate_reads_the_version_count_but_not_the_limit(emulator):
    with connect(emulator) as conn, conn.cursor() as cursor:
        cursor.execute(f"CREATE DATABASE {DATABASE}")
        cursor.execute("CREATE USER loader IDENTIFIED BY 'pw'")
        cursor.execute(f"GRANT ALL ON {DATABASE}.* TO USER loader")
    config = {**config_for(emulator, database=DATABASE), "username": "loader", "password": "pw"}
    run = run_connector("write", config, catalog(stream(TABLE)), [record(TABLE, {"id": 1, "name": "x"})])
    assert run.returncode == 0, run.stderr[-3000:]
    start = next(line for line in run.logs if line.startswith("Version pressure: "))
    assert start.startswith(
        "Version pressure: tablet_max_versions 1000 (default (information_schema.be_configs:"
    )
    assert "OPERATE privilege(s) on SYSTEM" in start
    summary = next(line for line in run.logs if line.startswith(f"Table {DATABASE}.{TABLE}: "))
    assert "highest version count seen 2 of 1000 (information_schema.be_tablets)" in summary
    with pytest.raises(pymysql.MySQLError):
        with (
            pymysql.connect(
                host=emulator.host, port=emulator.query_port, user="loader", password="pw"
            ) as conn,
            conn.cursor() as cursor,
        ):
            cursor.execute("SELECT * FROM information_schema.be_configs")
