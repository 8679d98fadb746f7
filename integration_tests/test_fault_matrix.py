"""The fault matrix: every failure the emulator can inject, against the real connector entrypoint.

For each fault the sync either completes, or (retries exhausted) fails with a clear TRACE; either way:
- every input record is in the table exactly once (append tables too: a retry reuses its label, and a load
  that committed while its answer was lost is recognised instead of loaded again);
- the STATEs echoed are, in order, exactly a prefix of those sent, and every record before an echoed STATE
  is committed (a sync that completes echoes all of them).

Small configs keep each case to seconds: `batch_size` 100 with a STATE every 50 records gives a dozen loads
of 50 rows (each cut at a STATE), `max_retries` and timeouts small. Fault-injecting tests always run against
a fresh emulator of their own (`emulator` fixture); faults are those of starrocks_emulator/faults.py.
"""

from __future__ import annotations

from typing import Any

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

TABLE = "t"
RECORDS = 600
STATE_EVERY = 50
STATES = list(range(STATE_EVERY - 1, RECORDS, STATE_EVERY))  # the id of the record each STATE follows

pytestmark = pytest.mark.timeout(120)


def source(first: int = 0, count: int = RECORDS) -> list[bytes]:
    """Records with ids first..first+count-1, a STATE (valued with the id before it) after every 50th id."""
    lines = []
    for i in range(first, first + count):
        lines.append(record(TABLE, {"id": i, "name": f"n{i}"}))
        if i % STATE_EVERY == STATE_EVERY - 1:
            lines.append(stream_state(TABLE, i))
    return lines


def small_config(emulator: Any, database: str, **overrides: Any) -> dict[str, Any]:
    settings: dict[str, Any] = {
        "database": database,
        "batch_size": 100,
        "flush_interval_seconds": 60,
        "max_retries": 4,
        "load_timeout_seconds": 2,
    }
    settings.update(overrides)
    return config_for(emulator, **settings)


def id_counts(emulator: Any, database: str) -> dict[int, int]:
    with connect(emulator) as conn, conn.cursor() as cursor:
        cursor.execute(f"SELECT `id`, COUNT(*) FROM `{database}`.`{TABLE}` GROUP BY `id`")
        return {int(i): int(n) for i, n in cursor.fetchall()}


def assert_exactly_once(emulator: Any, database: str, ids: range) -> None:
    counts = id_counts(emulator, database)
    duplicated = {i: n for i, n in counts.items() if n > 1}
    assert not duplicated, f"records loaded more than once: {sorted(duplicated.items())[:20]}"
    missing = sorted(set(ids) - set(counts))
    assert not missing, f"{len(missing)} records missing, e.g. {missing[:20]}"
    assert set(counts) == set(ids)


def assert_complete(run: Any, emulator: Any, database: str) -> None:
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.errors == []
    assert_exactly_once(emulator, database, range(RECORDS))
    assert [state_value(s) for s in run.states] == STATES
    assert [s["destinationStats"]["recordCount"] for s in run.states] == [STATE_EVERY] * len(STATES)


def loads_committed(emulator: EmulatorProcess, database: str) -> int:
    return emulator.stats()["tables"][f"{database}.{TABLE}"]["loads"]


def sync(emulator: EmulatorProcess, database: str, **overrides: Any) -> Any:
    return run_connector(
        "write", small_config(emulator, database, **overrides), catalog(stream(TABLE)), source(), timeout=100
    )


# ---- faults the connector retries through ---------------------------------------------------------------


def test_http_500_on_two_loads_is_retried_with_the_same_label(emulator, fresh_database):
    emulator.set_fault("http_500", count=2)
    run = sync(emulator, fresh_database)
    assert_complete(run, emulator, fresh_database)
    stats = emulator.stats()
    assert stats["requests"]["be_stream_load"] >= loads_committed(emulator, fresh_database) + 2


def test_connection_cut_mid_body_is_retried_and_nothing_is_half_loaded(emulator, fresh_database):
    emulator.set_fault("cut_mid_body", count=2)
    run = sync(emulator, fresh_database)
    assert_complete(run, emulator, fresh_database)
    assert emulator.stats()["loads"]["failed"] >= 2  # the cut loads were aborted, not partly applied


def test_a_be_slower_than_the_load_timeout_commits_once(emulator, fresh_database):
    # The BE answers only after the client's wait for a load of `load_timeout_seconds` (1 s) is over; it
    # commits anyway (as StarRocks does), so the client must find that out by label instead of reloading.
    emulator.set_fault("slow_be", count=1, seconds=4)
    run = sync(emulator, fresh_database, load_timeout_seconds=1)
    assert_complete(run, emulator, fresh_database)
    requests = emulator.stats()["requests"]
    # The client gave up waiting and asked (get_load_state, or a retry answered "Label Already Exists").
    assert requests.get("get_load_state", 0) + requests["be_stream_load"] > loads_committed(
        emulator, fresh_database
    ), requests


def test_publish_timeout_is_committed_and_never_reloaded(emulator, fresh_database):
    emulator.set_fault("publish_timeout", count=3)
    run = sync(emulator, fresh_database)
    assert_complete(run, emulator, fresh_database)
    assert emulator.stats()["requests"]["be_stream_load"] == loads_committed(emulator, fresh_database)


def test_a_commit_whose_answer_is_cut_off_is_recognised_by_its_label(emulator, fresh_database):
    emulator.set_fault("commit_then_cut", count=2)
    run = sync(emulator, fresh_database)
    assert_complete(run, emulator, fresh_database)
    assert emulator.stats()["requests"].get("get_load_state", 0) >= 2


def test_label_already_exists_while_running_waits_for_finished(emulator, fresh_database):
    emulator.set_fault("label_running", count=1, seconds=2)
    run = sync(emulator, fresh_database)
    assert_complete(run, emulator, fresh_database)


@pytest.mark.parametrize(
    ("run_mode", "wording"),
    [("shared_nothing", "because of too many versions"), ("shared_data", "too large compaction score")],
)
def test_version_pressure_waits_for_compaction_without_using_up_the_retries(
    run_mode, wording, fresh_database
):
    # StarRocks refuses loads for 4 s (be `delta_writer.cpp`'s wording, or shared-data's commit check); the
    # compaction wait (2 s, then 4 s) outlasts it, and with max_retries 1 a retry budget would be spent.
    with EmulatorProcess(run_mode=run_mode) as emulator:
        emulator.set_fault("too_many_versions", seconds=4)
        run = sync(emulator, fresh_database, max_retries=1)
        assert_complete(run, emulator, fresh_database)
    waits = [line for line in run.logs if wording in line and "waiting" in line and "compaction" in line]
    assert waits, run.logs[-5:]


def test_a_transaction_aborted_for_version_pressure_is_sent_again_after_the_wait(emulator, fresh_database):
    # The BE aborts the transaction at prepare (SERVICE_UNAVAILABLE); each batch here is one whole
    # transaction, so its ABORTED label is loaded again once compaction had time.
    emulator.set_fault("too_many_versions", count=2)
    run = sync(emulator, fresh_database, transaction_stream_load="always", max_retries=0)
    assert_complete(run, emulator, fresh_database)
    assert any("waiting" in line and "compaction" in line for line in run.logs), run.logs[-5:]


def test_be_down_mid_sync_then_back_is_ridden_out(emulator, fresh_database):
    config = small_config(emulator, fresh_database, max_retries=8)
    lines = source()
    with ConnectorProcess(config, catalog(stream(TABLE))) as connector:
        assert connector.send(lines[: len(lines) // 2])
        assert connector.wait_for_states(2, timeout=30), connector.stderr[-3000:]
        emulator.set_fault("be_down", seconds=2)
        assert connector.send(lines[len(lines) // 2 :])
        code = connector.wait(timeout=100)
        assert code == 0, connector.stderr[-3000:]
        assert connector.errors == []
        assert [state_value(s) for s in connector.states] == STATES
        logs = [m["log"]["message"] for m in connector.messages if m.get("type") == "LOG"]
    assert_exactly_once(emulator, fresh_database, range(RECORDS))
    assert any("Connection refused" in line for line in logs), logs[-5:]


def test_fe_redirecting_to_a_dead_be_falls_over_to_the_next_load_url(emulator, fresh_database):
    emulator.set_fault("fe_redirect_dead_be")
    load_urls = [f"{emulator.host}:{emulator.http_port}", f"{emulator.host}:{emulator.be_http_port}"]
    run = sync(emulator, fresh_database, load_urls=load_urls, max_retries=3)
    assert_complete(run, emulator, fresh_database)
    assert emulator.stats()["requests"]["be_stream_load"] == loads_committed(emulator, fresh_database)


def test_emulator_restart_mid_sync(tmp_path, fresh_database):
    with EmulatorProcess(data_dir=str(tmp_path / "data")) as emulator:
        config = small_config(emulator, fresh_database, max_retries=8)
        lines = source()
        half = len(lines) // 2
        with ConnectorProcess(config, catalog(stream(TABLE))) as connector:
            assert connector.send(lines[:half])
            assert connector.wait_for_states(2, timeout=30), connector.stderr[-3000:]
            emulator.restart()  # same ports and data; loads in flight are cut, labels survive
            assert connector.send(lines[half:])
            code = connector.wait(timeout=100)
            assert code == 0, connector.stderr[-3000:]
            assert connector.errors == []
            assert [state_value(s) for s in connector.states] == STATES
        assert_exactly_once(emulator, fresh_database, range(RECORDS))


# ---- retries exhausted: the sync fails, and no STATE leaves past the failed records ---------------------


def test_retries_exhausted_fail_with_a_trace_and_release_no_state_past_the_failed_records(
    emulator, fresh_database
):
    config = small_config(emulator, fresh_database, max_retries=1)
    lines = source()
    with ConnectorProcess(config, catalog(stream(TABLE))) as connector:
        assert connector.send(lines[: len(lines) // 2])
        assert connector.wait_for_states(3, timeout=30), connector.stderr[-3000:]
        emulator.set_fault("http_500", count=1000)
        connector.send(lines[len(lines) // 2 :])
        code = connector.wait(timeout=100)
        states = [state_value(s) for s in connector.states]
        errors = connector.errors
    assert code != 0
    assert len(errors) == 1, errors
    assert errors[0]["failure_type"] == "transient_error", errors[0]
    assert f"{fresh_database}.{TABLE}" in errors[0]["message"] and "label" in errors[0]["message"]
    assert "HTTP 500" in errors[0]["message"]
    # The echoed states are a prefix of those sent, and everything before the last one is committed...
    assert 3 <= len(states) < len(STATES) and states == STATES[: len(states)]
    counts = id_counts(emulator, fresh_database)
    assert all(n == 1 for n in counts.values())
    assert set(range(states[-1] + 1)) <= set(counts)
    # ...and nothing after the failed records: what is committed is a contiguous prefix of the input.
    assert set(counts) == set(range(len(counts)))


# ---- the transaction interface (transaction_stream_load) -----------------------------------------------


def test_transaction_commit_whose_answer_is_cut_off_is_recognised(emulator, fresh_database):
    emulator.set_fault("commit_then_cut", count=2)
    run = sync(emulator, fresh_database, transaction_stream_load="always")
    assert_complete(run, emulator, fresh_database)
    stats = emulator.stats()
    assert stats["requests"].get("get_load_state", 0) >= 2 and not stats["faults"], stats["requests"]


def test_transaction_chunk_failure_fails_the_sync_and_the_resumed_sync_loads_each_record_once(
    emulator, fresh_database
):
    # A failed chunk cannot be resent (the transaction may hold part of it): the transaction is rolled back,
    # the sync fails, and the platform's next attempt resumes after the last echoed STATE.
    config = small_config(emulator, fresh_database, transaction_stream_load="always")
    lines = source()
    with ConnectorProcess(config, catalog(stream(TABLE))) as connector:
        assert connector.send(lines[: len(lines) // 2])
        assert connector.wait_for_states(2, timeout=30), connector.stderr[-3000:]
        emulator.set_fault("http_500", count=1)
        connector.send(lines[len(lines) // 2 :])
        assert connector.wait(timeout=100) != 0
        first = [state_value(s) for s in connector.states]
        (error,) = connector.errors
    assert error["failure_type"] == "transient_error", error
    assert first == STATES[: len(first)] and len(first) < len(STATES)
    counts = id_counts(emulator, fresh_database)
    assert all(n == 1 for n in counts.values()) and set(range(first[-1] + 1)) <= set(counts)
    resumed = run_connector(
        "write", config, catalog(stream(TABLE)), source(first[-1] + 1, RECORDS - first[-1] - 1), timeout=100
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert first + [state_value(s) for s in resumed.states] == STATES
    assert_exactly_once(emulator, fresh_database, range(RECORDS))
