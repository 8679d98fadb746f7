"""The connector on a real-shaped cluster (a leader FE, a follower FE, two BEs), through the follower and the
leader, in plain and in transaction mode: every record lands once, every STATE is echoed with its count, and
the calls the follower redirects to the leader (get_load_state, the transaction interface) still carry the
credentials (issue 12, items 1 and 2).

StarRocks' routing (fe `RestBaseAction.redirectToLeader`, `TransactionLoadAction`, `GetStreamLoadState`): a
follower 307s get_load_state and /api/transaction/* to the leader, the leader 307s transaction
begin/load/prepare to a BE; every hop checks the credentials. Fault tests use a fresh cluster of their own
(`cluster` fixture); the others share the session's (`starrocks` / `follower`).
"""

from __future__ import annotations

from typing import Any

import pytest

from integration_tests.connector import catalog, config_for, connect, run_connector, stream
from integration_tests.test_fault_matrix import TABLE, assert_complete, id_counts, source
from starrocks_emulator.process import EmulatorProcess

pytestmark = pytest.mark.timeout(180)


def through(node: Any, target: Any, database: str, **overrides: Any) -> dict[str, Any]:
    """A small-batch connector config for `target`'s cluster, talking to the FE `node`."""
    settings: dict[str, Any] = {
        "database": database,
        "http_port": node.http_port,
        "query_port": node.query_port,
        "batch_size": 100,
        "max_retries": 2,
        "load_timeout_seconds": 5,
    }
    settings.update(overrides)
    return config_for(target, **settings)


def write(config: dict[str, Any]) -> Any:
    return run_connector("write", config, catalog(stream(TABLE)), source(), timeout=150)


def requests(emulator: EmulatorProcess) -> dict[str, int]:
    return emulator.stats()["requests"]


# ---- the session's cluster -------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["never", "always"], ids=["plain", "transactions"])
def test_a_sync_through_the_follower_lands_every_record_once_and_echoes_every_state(
    follower, starrocks, fresh_database, mode
):
    run = write(through(follower, starrocks, fresh_database, transaction_stream_load=mode))
    assert_complete(run, starrocks, fresh_database)
    if mode == "always":
        assert any("transaction interface" in line for line in run.logs), run.logs[:5]


def test_auto_uses_the_transaction_interface_through_the_leader(starrocks, fresh_database):
    # Before issue 12 every begin failed here: the leader's 307 to the BE lost the credentials.
    run = write(through(starrocks, starrocks, fresh_database, transaction_stream_load="auto"))
    assert_complete(run, starrocks, fresh_database)
    assert any("Using the Stream Load transaction interface" in line for line in run.logs), run.logs[:5]


# ---- faults, each on a fresh cluster -----------------------------------------------------------------------


def test_a_load_still_running_is_followed_by_its_label_through_the_follower(cluster, fresh_database):
    # The BE keeps the load RUNNING for 12 s: a retry answers Label Already Exists + RUNNING, and only
    # get_load_state (via the follower, redirected to the leader) can say when it is done. With 2 retries of
    # short backoff, a client that cannot read the label state gives up long before.
    cluster.set_fault("label_running", count=1, seconds=12)
    run = write(through(cluster.follower, cluster, fresh_database))
    assert_complete(run, cluster, fresh_database)
    seen = requests(cluster)
    assert seen["get_load_state"] >= 2, seen  # counted on every FE hop: the follower's and the leader's


def test_a_transaction_commit_whose_answer_is_lost_is_settled_through_the_follower(cluster, fresh_database):
    cluster.set_fault("commit_then_cut", count=2)
    run = write(through(cluster.follower, cluster, fresh_database, transaction_stream_load="always"))
    assert_complete(run, cluster, fresh_database)
    stats = cluster.stats()
    assert stats["requests"]["get_load_state"] >= 2 and not stats["faults"], stats["requests"]


def test_rows_rejected_at_prepare_fail_the_sync_as_a_data_error_naming_them(cluster, fresh_database):
    # A NOT NULL column the stream never sends: StarRocks filters every row, in a transaction when the
    # fragment ends (be `stream_load_executor`: "too many filtered rows" at prepare).
    with connect(cluster) as conn, conn.cursor() as cursor:
        cursor.execute(f"CREATE DATABASE `{fresh_database}`")
        cursor.execute(
            f"CREATE TABLE `{fresh_database}`.`{TABLE}` (`id` BIGINT NOT NULL, `name` VARCHAR(64), "
            "`required` BIGINT NOT NULL) DUPLICATE KEY(`id`) DISTRIBUTED BY HASH(`id`) BUCKETS 1 "
            "PROPERTIES ('replication_num' = '1')"
        )
    run = write(through(cluster.follower, cluster, fresh_database, transaction_stream_load="always"))
    assert run.returncode != 0
    (error,) = run.errors
    assert error["failure_type"] == "system_error", error
    assert "rejected" in error["message"] and "too many filtered rows" in error["message"], error["message"]
    assert "First rejected rows:" in error["message"] and "(no ErrorURL)" not in error["message"], error
    assert run.states == [] and id_counts(cluster, fresh_database) == {}


def test_transactions_always_on_a_server_without_them_is_a_config_error_in_check_and_write(fresh_database):
    with EmulatorProcess(starrocks_version="2.3.18") as old:
        config = through(old, old, fresh_database, transaction_stream_load="always")
        check = run_connector("check", config)
        (status,) = [m["connectionStatus"] for m in check.of_type("CONNECTION_STATUS")]
        assert status["status"] == "FAILED" and "2.4" in status["message"], status
        run = write(config)
        assert run.returncode != 0
        (error,) = run.errors
        assert error["failure_type"] == "config_error" and "2.3.18" in error["message"], error
        with connect(old) as conn, conn.cursor() as cursor:
            cursor.execute("SHOW DATABASES")
            assert fresh_database not in {row[0] for row in cursor.fetchall()}  # refused before any DDL
        # auto on the same server is the truth, not a failure: plain Stream Load.
        run = write(through(old, old, fresh_database, transaction_stream_load="auto"))
        assert_complete(run, old, fresh_database)
        assert requests(old)["txn_begin"] == 0


@pytest.mark.parametrize(("version", "works"), [("3.2.6", False), ("3.2.7", True)])
def test_compression_is_refused_before_3_2_7_and_used_from_it(fresh_database, version, works):
    with EmulatorProcess(starrocks_version=version) as server:
        config = through(server, server, fresh_database, compression="gzip")
        check = run_connector("check", config)
        (status,) = [m["connectionStatus"] for m in check.of_type("CONNECTION_STATUS")]
        run = write(config)
        if works:
            assert status["status"] == "SUCCEEDED", status
            assert_complete(run, server, fresh_database)
        else:
            assert status["status"] == "FAILED" and "3.2.7" in status["message"], status
            (error,) = run.errors
            assert error["failure_type"] == "config_error" and "3.2.7" in error["message"], error
            assert requests(server)["be_stream_load"] == 0
