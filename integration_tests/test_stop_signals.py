"""SIGTERM / SIGINT during `write`: Airbyte's cancel and `docker stop`, against the real entrypoint.

Contract (destination_starrocks/stop_signals.py): on the signal the connector stops reading, sends no new
load, lets a load already sent finish within LOAD_GRACE_SECONDS (its STATEs then leave) or rolls back its
open transaction, emits no STATE whose records are not committed, logs what it did, prints one TRACE
(transient_error) and exits with 128 + the signal's number within HARD_STOP_SECONDS; a second signal ends it
at once. The same holds when the connector is PID 1 of its PID namespace, as in a container, where Linux
delivers no signal whose action is the default one.

How a load is kept in flight: the emulator's `slow_be` fault makes the BE sleep before it performs a load.
The input is fed through a pipe that stays open (a slow source), so the connector is still reading when the
signal comes. `flush_interval_seconds: 0` makes every STATE flush its stream at once: STATE n covers the
records before it, and one stream has at most one load in flight, so the second batch waits behind the
first, which the test holds in the BE.

Cost: ~5-15 s per case (most of it the connector's start-up and the grace period of the abandoned cases).
"""

from __future__ import annotations

import os
import shutil
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from destination_starrocks.stop_signals import HARD_STOP_SECONDS, LOAD_GRACE_SECONDS
from integration_tests.chaos import ConnectorProcess
from integration_tests.conftest import target_for as emulator_target
from integration_tests.connector import (
    catalog,
    config_for,
    connect,
    record,
    state_value,
    stream,
    stream_state,
)
from starrocks_emulator.process import EmulatorProcess

TABLE = "t"
BATCH = 100  # records per STATE
# Start-up of a loaded 2-core machine aside, the exit must come within the connector's own hard bound.
EXIT_SLACK_SECONDS = 3.0

pytestmark = pytest.mark.timeout(120)


def batch(number: int) -> list[bytes]:
    """Records number*BATCH .. +BATCH-1, then the STATE valued `number` that covers them."""
    first = number * BATCH
    lines = [record(TABLE, {"id": i, "name": f"n{i}"}) for i in range(first, first + BATCH)]
    return [*lines, stream_state(TABLE, number)]


def write_config(emulator: EmulatorProcess, database: str, **overrides: Any) -> dict[str, Any]:
    settings: dict[str, Any] = {"database": database, "flush_interval_seconds": 0, "load_timeout_seconds": 60}
    settings.update(overrides)
    return config_for(emulator, **settings)


def committed_ids(emulator: EmulatorProcess, database: str) -> list[int]:
    with connect(emulator) as conn, conn.cursor() as cursor:
        cursor.execute(f"SELECT `id` FROM `{database}`.`{TABLE}` ORDER BY `id`")
        return [int(row[0]) for row in cursor.fetchall()]


def loads_of(emulator: EmulatorProcess) -> dict[str, tuple[str, str]]:
    """label -> (STATE, ERROR_MSG) of every load job (information_schema.loads; the emulator is the test's
    own, so every job is this test's). STATE: LOADING while a transaction is open, CANCELLED once aborted."""
    with connect(emulator) as conn, conn.cursor() as cursor:
        cursor.execute("SELECT `LABEL`, `STATE`, `ERROR_MSG` FROM information_schema.loads")
        return {label: (state, message or "") for label, state, message in cursor.fetchall()}


def open_transactions(emulator: EmulatorProcess) -> list[str]:
    return [label for label, (state, _) in loads_of(emulator).items() if state == "LOADING"]


def wait_until(condition: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def be_loads_received(emulator: EmulatorProcess) -> int:
    requests = emulator.stats()["requests"]
    return requests.get("be_stream_load", 0) + requests.get("fe_txn_load", 0)


def stop_and_time(connector: ConnectorProcess, signum: int, pid: int | None = None) -> tuple[int, float]:
    """Send the signal (to `pid`, default the connector) and wait for the exit: (exit code, seconds)."""
    sent = time.monotonic()
    os.kill(pid or connector.proc.pid, signum)
    code = connector.proc.wait(timeout=HARD_STOP_SECONDS + 30)
    elapsed = time.monotonic() - sent
    connector._reader.join(timeout=10)
    return code, elapsed


def logs(connector: ConnectorProcess) -> list[str]:
    return [m["log"]["message"] for m in connector.messages if m.get("type") == "LOG"]


def assert_stopped_cleanly(connector: ConnectorProcess, code: int, signum: int) -> None:
    assert code == 128 + signum, connector.stderr[-3000:]
    (error,) = connector.errors
    assert error["failure_type"] == "transient_error", error
    assert signal.Signals(signum).name in error["message"], error
    assert "Traceback" not in connector.stderr, connector.stderr[-3000:]
    assert any(line.startswith("Stopped by") for line in logs(connector)), logs(connector)[-5:]


# ---- plain Stream Load ---------------------------------------------------------------------------------


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_load_in_flight_finishes_its_state_leaves_and_nothing_after_it(emulator, fresh_database, signum):
    emulator.set_fault("slow_be", count=1, seconds=2)
    with ConnectorProcess(write_config(emulator, fresh_database), catalog(stream(TABLE))) as connector:
        assert connector.send(batch(0))
        wait_until(lambda: be_loads_received(emulator) >= 1, 30, "the first load to reach the BE")
        assert connector.send(batch(1))  # sealed behind the load in flight: must never be sent
        time.sleep(0.3)
        code, elapsed = stop_and_time(connector, signum)
        assert_stopped_cleanly(connector, code, signum)
        states = [state_value(s) for s in connector.states]
        messages = logs(connector)
    assert elapsed < LOAD_GRACE_SECONDS + EXIT_SLACK_SECONDS, elapsed
    assert states == [0]  # the slow load committed within the grace period: its STATE left, STATE 1 did not
    assert committed_ids(emulator, fresh_database) == list(range(BATCH))
    assert be_loads_received(emulator) == 1  # the second batch was never sent
    assert any("Received " + signal.Signals(signum).name in line for line in messages), messages[:5]


def test_a_load_slower_than_the_grace_period_is_abandoned_and_its_state_never_leaves(
    emulator, fresh_database
):
    emulator.set_fault("slow_be", count=1, seconds=LOAD_GRACE_SECONDS + 15)
    with ConnectorProcess(write_config(emulator, fresh_database), catalog(stream(TABLE))) as connector:
        assert connector.send(batch(0))
        wait_until(lambda: be_loads_received(emulator) >= 1, 30, "the first load to reach the BE")
        code, elapsed = stop_and_time(connector, signal.SIGTERM)
        assert_stopped_cleanly(connector, code, signal.SIGTERM)
        assert connector.states == []
        stopped = [line for line in logs(connector) if line.startswith("Stopped by")]
    assert LOAD_GRACE_SECONDS - 0.5 <= elapsed < HARD_STOP_SECONDS + EXIT_SLACK_SECONDS, elapsed
    assert f"loads abandoned in flight: {TABLE}" in stopped[0], stopped


def test_a_second_sigterm_ends_the_process_at_once(emulator, fresh_database):
    emulator.set_fault("slow_be", count=1, seconds=LOAD_GRACE_SECONDS + 15)
    with ConnectorProcess(write_config(emulator, fresh_database), catalog(stream(TABLE))) as connector:
        assert connector.send(batch(0))
        wait_until(lambda: be_loads_received(emulator) >= 1, 30, "the first load to reach the BE")
        os.kill(connector.proc.pid, signal.SIGTERM)
        time.sleep(0.5)
        code, elapsed = stop_and_time(connector, signal.SIGTERM)
        assert code == 128 + signal.SIGTERM
        assert connector.states == []
        messages = logs(connector)
    assert elapsed < 2.0, elapsed  # well before the grace period would have run out
    assert any(line.startswith("A second SIGTERM: exiting now") for line in messages), messages[-5:]


def test_as_pid_1_sigterm_from_outside_the_namespace_stops_the_sync(emulator, fresh_database):
    # In a container the entrypoint is PID 1: the kernel drops a signal sent to it from outside its PID
    # namespace (docker stop, the platform) unless the process installed a handler for it.
    unshare = shutil.which("unshare")
    assert unshare, "util-linux's unshare is needed to run the connector as PID 1"
    emulator.set_fault("slow_be", count=1, seconds=2)
    prefix = [unshare, "--pid", "--fork"]
    with ConnectorProcess(
        write_config(emulator, fresh_database), catalog(stream(TABLE)), prefix=prefix
    ) as connector:
        assert connector.send(batch(0))
        wait_until(lambda: be_loads_received(emulator) >= 1, 30, "the first load to reach the BE")
        assert connector.send(batch(1))
        time.sleep(0.3)
        pid_1 = _only_child(connector.proc.pid)
        assert _namespace_pid(pid_1) == 1
        code, elapsed = stop_and_time(connector, signal.SIGTERM, pid=pid_1)
        assert_stopped_cleanly(connector, code, signal.SIGTERM)
        states = [state_value(s) for s in connector.states]
    assert elapsed < LOAD_GRACE_SECONDS + EXIT_SLACK_SECONDS, elapsed
    assert states == [0]
    assert committed_ids(emulator, fresh_database) == list(range(BATCH))


def _only_child(pid: int) -> int:
    (child,) = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return int(child)


def _namespace_pid(pid: int) -> int:
    """The pid the process has in its own (innermost) PID namespace, from /proc/PID/status's NSpid."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("NSpid:"):
            return int(line.split()[-1])
    raise AssertionError("no NSpid line")


# ---- the transaction interface ---------------------------------------------------------------------------


def test_transaction_mode_rolls_back_the_open_transaction(emulator, fresh_database):
    # STATE 0 commits transaction 1; then chunks of batch_bytes go into transaction 2, which nothing commits
    # before the signal: the connector must roll it back, not leave it open until its timeout.
    config = write_config(
        emulator, fresh_database, transaction_stream_load="always", batch_bytes=1024, batch_size=1_000_000
    )
    with ConnectorProcess(config, catalog(stream(TABLE))) as connector:
        assert connector.send(batch(0))
        assert connector.wait_for_states(1, timeout=30), connector.stderr[-3000:]
        assert connector.send(batch(1)[:-1])  # records only: chunks of an open transaction, no STATE
        wait_until(lambda: open_transactions(emulator), 30, "an open transaction")
        (open_label,) = open_transactions(emulator)
        assert emulator_target(emulator).http.load_state(fresh_database, open_label) == "PREPARE"
        code, elapsed = stop_and_time(connector, signal.SIGTERM)
        assert_stopped_cleanly(connector, code, signal.SIGTERM)
        states = [state_value(s) for s in connector.states]
        stopped = [line for line in logs(connector) if line.startswith("Stopped by")]
    assert elapsed < LOAD_GRACE_SECONDS + EXIT_SLACK_SECONDS, elapsed
    assert states == [0]
    assert committed_ids(emulator, fresh_database) == list(range(BATCH))
    assert emulator_target(emulator).http.load_state(fresh_database, open_label) == "ABORTED"
    state, message = loads_of(emulator)[open_label]
    # StarRocks BE transaction_mgr.cpp words a client rollback "transaction is aborted by user.".
    assert state == "CANCELLED" and "aborted by user" in message, (state, message)
    assert open_label in stopped[0], stopped
    assert open_transactions(emulator) == []
