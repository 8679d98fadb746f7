"""The write path end to end through the real entrypoint: batching, checkpoints, redirects, labels, check.

Runs against the bundled emulator, or a real StarRocks when STARROCKS_HOST is set (the assertions that read
the emulator's load and version counters apply to the emulator only; rows and states are checked on both).
"""

from __future__ import annotations

import subprocess
import threading
import time

import orjson
import pytest

from integration_tests.connector import (
    ENTRYPOINT,
    catalog,
    config_for,
    connect,
    global_state,
    record,
    run_connector,
    state_value,
    stream,
    stream_state,
    stream_status,
)


def count_rows(starrocks, database: str, table: str) -> int:  # noqa: ANN001
    with connect(starrocks) as conn, conn.cursor() as cursor:
        cursor.execute(f"SELECT COUNT(*) FROM `{database}`.`{table}`")
        return cursor.fetchone()[0]


def table_stats(starrocks, database: str, table: str) -> dict | None:  # noqa: ANN001
    emulator = getattr(starrocks, "emulator", starrocks if hasattr(starrocks, "stats") else None)
    if emulator is None:
        return None
    return emulator.stats()["tables"].get(f"{database}.{table}")


def test_100k_records_with_a_state_every_100_are_all_loaded_in_one_load(starrocks, fresh_database):
    lines = []
    for i in range(100_000):
        lines.append(record("events", {"id": i, "name": f"event {i}"}))
        if i % 100 == 99:
            lines.append(stream_state("events", i))
    run = run_connector(
        "write", config_for(starrocks, database=fresh_database), catalog(stream("events")), lines
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert count_rows(starrocks, fresh_database, "events") == 100_000
    assert [state_value(s) for s in run.states] == list(range(99, 100_000, 100))
    assert {s["destinationStats"]["recordCount"] for s in run.states} == {100}
    stats = table_stats(starrocks, fresh_database, "events")
    if stats is not None:
        assert stats["loads"] == 1  # 100k rows fit one batch: one Stream Load, one version
        assert stats["versions_created"] == 1


def test_a_state_after_every_record_gives_at_most_one_load_per_interval(starrocks, fresh_database):
    interval = 1.0
    config = config_for(starrocks, database=fresh_database, flush_interval_seconds=interval)
    duration, sent = 4.0, 0
    lines = []
    with _paced_writer(config, catalog(stream("cdc"))) as feed:
        started = time.monotonic()
        while time.monotonic() - started < duration:
            for _ in range(20):
                lines = [record("cdc", {"id": sent, "name": "x"}), stream_state("cdc", sent)]
                feed.write(lines)
                sent += 1
            time.sleep(0.02)
    run = feed.result
    assert run.returncode == 0, run.stderr[-2000:]
    assert count_rows(starrocks, fresh_database, "cdc") == sent
    assert len(run.states) == sent  # every STATE echoed...
    stats = table_stats(starrocks, fresh_database, "cdc")
    if stats is not None:
        # ...but a load only per elapsed interval (plus the final flush), not one per STATE.
        assert stats["loads"] <= duration / interval + 2, stats
        assert stats["loads"] < sent / 50


def test_several_streams_with_global_states(starrocks, fresh_database):
    names = ["users", "orders", "items"]
    lines = []
    for i in range(3000):
        lines.append(record(names[i % 3], {"id": i, "name": "n"}))
        if i % 300 == 299:
            lines.append(global_state(i))
    run = run_connector(
        "write", config_for(starrocks, database=fresh_database), catalog(*(stream(n) for n in names)), lines
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert [count_rows(starrocks, fresh_database, n) for n in names] == [1000, 1000, 1000]
    assert [s["destinationStats"]["recordCount"] for s in run.states] == [300] * 10


def test_stream_load_follows_the_fe_redirect_with_credentials(emulator, fresh_database):
    lines = [record("t", {"id": i, "name": "n"}) for i in range(10)]
    run = run_connector("write", config_for(emulator, database=fresh_database), catalog(stream("t")), lines)
    assert run.returncode == 0, run.stderr[-2000:]
    requests = emulator.stats()["requests"]
    assert requests.get("fe_stream_load", 0) >= 1 and requests.get("be_stream_load", 0) >= 1
    assert count_rows(emulator, fresh_database, "t") == 10


@pytest.mark.parametrize(
    "fault, rows",
    [
        ("commit_then_cut", 1000),  # committed, then the socket closes: the retry's label answers "exists"
        ("publish_timeout", 500),  # committed, visible later: must not be reloaded
    ],
)
def test_a_load_committed_behind_an_ambiguous_answer_is_not_loaded_twice(
    emulator, fresh_database, fault, rows
):
    emulator.set_fault(fault, count=1)
    lines = [record("t", {"id": i, "name": "n"}) for i in range(rows)] + [stream_state("t", 1)]
    run = run_connector("write", config_for(emulator, database=fresh_database), catalog(stream("t")), lines)
    assert run.returncode == 0, run.stderr[-2000:]
    assert count_rows(emulator, fresh_database, "t") == rows
    assert emulator.stats()["tables"][f"{fresh_database}.t"]["loads"] == 1
    assert len(run.states) == 1


def _check(config) -> dict:  # noqa: ANN001
    run = run_connector("check", config)
    (status,) = [m["connectionStatus"] for m in run.of_type("CONNECTION_STATUS")]
    return status


def test_check_succeeds_and_leaves_no_table_behind(starrocks, fresh_database):
    status = _check(config_for(starrocks, database=fresh_database))
    assert status["status"] == "SUCCEEDED", status
    with connect(starrocks) as conn, conn.cursor() as cursor:
        cursor.execute(f"SHOW TABLES FROM `{fresh_database}`")
        assert [r[0] for r in cursor.fetchall() if r[0].startswith("_airbyte_check")] == []


def test_check_names_a_wrong_password(starrocks):
    status = _check(config_for(starrocks, password="definitely-wrong-pw"))
    assert status["status"] == "FAILED"
    assert "password" in status["message"] and "1045" in status["message"]
    assert "definitely-wrong-pw" not in status["message"]


def test_check_names_an_unknown_host_and_a_closed_port(starrocks):
    status = _check(config_for(starrocks, host="no-such-host.invalid"))
    assert status["status"] == "FAILED" and "no-such-host.invalid" in status["message"]
    status = _check(config_for(starrocks, host="127.0.0.1", query_port=1))
    assert status["status"] == "FAILED" and "127.0.0.1:1" in status["message"]


def test_check_catches_a_redirect_to_an_unreachable_be_and_load_urls_fixes_it(emulator):
    emulator.set_fault("fe_redirect_dead_be")
    status = _check(config_for(emulator))
    assert status["status"] == "FAILED"
    assert "load_urls" in status["message"], status["message"]
    fixed = _check(config_for(emulator, load_urls=[f"127.0.0.1:{emulator.be_http_port}"]))
    assert fixed["status"] == "SUCCEEDED", fixed


def test_check_names_the_privilege_a_user_lacks_on_an_existing_database(emulator):
    with connect(emulator) as conn, conn.cursor() as cursor:
        cursor.execute("CREATE DATABASE airbyte")
        cursor.execute("CREATE USER 'reader'@'%' IDENTIFIED BY 'pw-reader'")
        cursor.execute("GRANT SELECT ON ALL TABLES IN DATABASE airbyte TO USER 'reader'@'%'")
        cursor.execute("CREATE USER 'maker'@'%' IDENTIFIED BY 'pw-maker'")
        cursor.execute("GRANT CREATE TABLE, DROP, ALTER ON DATABASE airbyte TO USER 'maker'@'%'")
        cursor.execute("GRANT DROP, ALTER, SELECT ON ALL TABLES IN DATABASE airbyte TO USER 'maker'@'%'")
    # The database exists, so neither needs CREATE DATABASE (StarRocks checks it before IF NOT EXISTS).
    reader = _check(config_for(emulator, username="reader", password="pw-reader"))
    assert reader["status"] == "FAILED" and "CREATE TABLE privilege" in reader["message"], reader
    maker = _check(config_for(emulator, username="maker", password="pw-maker"))
    assert maker["status"] == "FAILED" and "INSERT privilege" in maker["message"], maker
    with connect(emulator) as conn, conn.cursor() as cursor:
        cursor.execute("GRANT INSERT ON ALL TABLES IN DATABASE airbyte TO USER 'maker'@'%'")
    assert _check(config_for(emulator, username="maker", password="pw-maker"))["status"] == "SUCCEEDED"


class _paced_writer:  # noqa: N801 - used as a context manager like open()
    """Feeds a `write` child process over time, so timers (the flush interval) matter."""

    def __init__(self, config: dict, catalog_: dict) -> None:
        import tempfile
        from pathlib import Path

        self._tmp = tempfile.TemporaryDirectory()
        config_path = Path(self._tmp.name) / "config.json"
        catalog_path = Path(self._tmp.name) / "catalog.json"
        config_path.write_bytes(orjson.dumps(config))
        catalog_path.write_bytes(orjson.dumps(catalog_))
        self._proc = subprocess.Popen(
            [*ENTRYPOINT, "write", "--config", str(config_path), "--catalog", str(catalog_path)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        self._out: list[bytes] = []
        self._err: list[bytes] = []
        self._threads = [
            threading.Thread(target=lambda: self._out.append(self._proc.stdout.read()), daemon=True),
            threading.Thread(target=lambda: self._err.append(self._proc.stderr.read()), daemon=True),
        ]
        for thread in self._threads:
            thread.start()
        self.result = None
        self._streams = [entry["stream"] for entry in catalog_["streams"]]

    def write(self, lines: list[bytes]) -> None:
        self._proc.stdin.write(b"\n".join(lines) + b"\n")
        self._proc.stdin.flush()

    def __enter__(self) -> _paced_writer:
        return self

    def __exit__(self, *exc: object) -> None:
        from integration_tests.connector import ConnectorRun

        # The platform ends a successful read with a COMPLETE status per stream.
        self.write([stream_status(s["name"], "COMPLETE", s.get("namespace")) for s in self._streams])
        self._proc.stdin.close()
        code = self._proc.wait(timeout=120)
        for thread in self._threads:
            thread.join(timeout=10)
        stdout = b"".join(self._out).decode()
        messages = [orjson.loads(line) for line in stdout.splitlines() if line.strip()]
        self.result = ConnectorRun(code, messages, b"".join(self._err).decode(), stdout)
        self._tmp.cleanup()


pytestmark = pytest.mark.timeout(300)


def test_a_stream_whose_schema_declares_no_properties_keeps_its_data_as_json(starrocks, fresh_database):
    entry = stream("free")
    entry["stream"]["json_schema"] = {"type": "object"}  # no properties: no typed columns to fill
    data = {"a": 1, "b": {"c": [1, 2]}, "text": "ü"}
    run = run_connector(
        "write",
        config_for(starrocks, database=fresh_database),
        catalog(entry),
        [record("free", data), stream_state("free", 1)],
    )
    assert run.returncode == 0, run.stderr[-2000:]
    with connect(starrocks) as conn, conn.cursor() as cursor:
        cursor.execute(f"SELECT `_airbyte_data` FROM `{fresh_database}`.`free`")
        (value,) = cursor.fetchone()
    assert orjson.loads(value) == data  # the whole record, not dropped
