"""The cluster as the query port shows it, and the rules that depend on it: SHOW BACKENDS / FRONTENDS,
`default_replication_num` against the alive BEs, ADMIN SHOW/SET FRONTEND CONFIG, and DROP TABLE's recycle bin
(starrocks_emulator/storage/fe_config.py, recycle_bin.py, sql/admin_statements.py).

Topologies other than the default one run in-process (an Engine with a Topology of its own behind the query
port); the rest runs against the session's emulator or, for what a real cluster shows the same, a real StarRocks.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import pymysql
import pytest

from integration_tests.sql_target import SqlTarget, database_fixture, run, target_fixture, unique_name
from starrocks_emulator.process import EmulatorProcess
from starrocks_emulator.topology import Node, Topology

sr = pytest.fixture(scope="module", name="sr")(target_fixture)
db = pytest.fixture(name="db")(database_fixture)

# fe common/proc/BackendsProcDir.TITLE_NAMES (3.3)
BACKEND_COLUMNS = [
    "BackendId", "IP", "HeartbeatPort", "BePort", "HttpPort", "BrpcPort", "LastStartTime", "LastHeartbeat",
    "Alive", "SystemDecommissioned", "ClusterDecommissioned", "TabletNum", "DataUsedCapacity", "AvailCapacity",
    "TotalCapacity", "UsedPct", "MaxDiskUsedPct", "ErrMsg", "Version", "Status", "DataTotalCapacity",
    "DataUsedPct", "CpuCores", "MemLimit", "NumRunningQueries", "MemUsedPct", "CpuUsedPct", "DataCacheMetrics",
    "Location",
]  # fmt: skip
TABLE = "CREATE TABLE `{db}`.t (id BIGINT NOT NULL, v VARCHAR(8)) DUPLICATE KEY(id) DISTRIBUTED BY HASH(id) BUCKETS 2"


@contextlib.contextmanager
def cluster(
    backends: int = 1, dead: tuple[int, ...] = (), frontends: int = 1, **engine: Any
) -> Iterator[SqlTarget]:
    """An in-process emulator (engine and query port) whose topology has these nodes."""
    from starrocks_emulator.sql.mysql_frontend import QueryPortThread
    from starrocks_emulator.storage.engine import Engine

    instance = Engine(None, **engine)
    port = QueryPortThread(instance).start()
    instance.topology = Topology(
        tuple(Node("FE", i, "127.0.0.1", 8030 + i, port.port if i == 1 else 9030 + i, leader=i == 1)
              for i in range(1, frontends + 1)),
        tuple(Node("BE", i, "127.0.0.1", 8040 + i, alive=i not in dead) for i in range(1, backends + 1)),
    )  # fmt: skip
    try:
        yield SqlTarget("127.0.0.1", port.port, "root", "", instance)
    finally:
        port.stop()
        instance.close()


def create_db(target: Any) -> str:
    name = unique_name("cluster")
    run(target, None, f"CREATE DATABASE `{name}`")
    return name


def refused(target: Any, db: str | None, sql: str) -> str:
    with pytest.raises(pymysql.err.MySQLError) as err:
        run(target, db, sql)
    return err.value.args[1]


def test_show_backends_and_frontends_describe_the_topology():
    with cluster(backends=3, dead=(2,), frontends=2) as sr:
        backends = run(sr, None, "SHOW BACKENDS", dicts=True)
        assert list(backends[0]) == BACKEND_COLUMNS
        assert [(b["BackendId"], b["HttpPort"], b["Alive"]) for b in backends] == [
            ("10001", "8041", "true"), ("10002", "8042", "false"), ("10003", "8043", "true")
        ]  # fmt: skip
        frontends = run(sr, None, "SHOW FRONTENDS", dicts=True)
        assert [(f["Role"], f["Alive"]) for f in frontends] == [("LEADER", "true"), ("FOLLOWER", "true")]
        assert frontends[0]["QueryPort"] == str(sr.query_port)


def test_the_default_profile_replicates_once_like_the_allin1_image(starrocks):
    if not starrocks.is_emulator:
        pytest.skip("a real cluster's default_replication_num is its own")
    db = create_db(starrocks)
    try:
        assert run(starrocks, None, "ADMIN SHOW FRONTEND CONFIG LIKE 'default_replication_num'")[0][2] == "1"
        run(starrocks, db, TABLE.format(db=db))
        assert '"replication_num" = "1"' in run(starrocks, db, "SHOW CREATE TABLE t")[0][1]
    finally:
        run(starrocks, None, f"DROP DATABASE `{db}` FORCE")


def test_a_replication_larger_than_the_alive_backends_fails_create_table_with_starrocks_reason():
    with cluster(backends=3, dead=(2,), default_replication_num=3) as sr:
        db = create_db(sr)
        assert run(sr, None, "ADMIN SHOW FRONTEND CONFIG LIKE 'default_replication_num'")[0][2] == "3"
        message = refused(sr, db, TABLE.format(db=db))
        assert message.startswith(
            "Table replication num should be less than or equal to the number of available BE nodes. You can "
            "change this default by setting the replication_num table properties. Current alive backend is "
            "[10001,10003]."
        )
        assert "default_replication_num=3" in message
        assert run(sr, db, "SHOW TABLES") == []
        run(sr, db, TABLE.format(db=db) + " PROPERTIES ('replication_num' = '2')")
        tablets = run(sr, db, f"SHOW TABLET FROM `{db}`.t", dicts=True)
        assert len(tablets) == 4  # 2 buckets x 2 replicas, on two different BEs each
        by_tablet: dict[int, set] = {}
        for row in tablets:
            by_tablet.setdefault(row["TabletId"], set()).add(row["BackendId"])
        assert all(len(bes) == 2 for bes in by_tablet.values())
        assert (
            "replication num should larger than 0"
            in refused(
                sr, db, TABLE.format(db=db).replace(".t ", ".t0 ") + " PROPERTIES ('replication_num' = '0')"
            ).lower()
        )


def test_admin_set_frontend_config_changes_the_default_replication():
    with cluster(backends=1, default_replication_num=3) as sr:
        db = create_db(sr)
        assert "Current alive backend is [10001]" in refused(sr, db, TABLE.format(db=db))
        run(sr, None, "ADMIN SET FRONTEND CONFIG ('default_replication_num' = '1')")
        run(sr, db, TABLE.format(db=db))
        assert "does not exist or is not mutable" in refused(
            sr, None, "ADMIN SET FRONTEND CONFIG ('run_mode' = 'x')"
        )


def test_default_replication_num_flag_plays_a_self_built_cluster():
    with EmulatorProcess(default_replication_num=3) as emulator:
        target = SqlTarget(emulator.host, emulator.query_port, "root", "", emulator)
        db = create_db(target)
        assert "Table replication num should be less than or equal" in refused(
            target, db, TABLE.format(db=db)
        )
        run(target, db, TABLE.format(db=db) + " PROPERTIES ('replication_num' = '1')")


# ---------------------------------------------------------------------------------------------- recycle bin
def recycled(sr: SqlTarget, db: str) -> list[dict]:
    if sr.emulator is None:
        pytest.skip("the kept space is read from the emulator's stats")
    return [entry for entry in sr.emulator.stats()["recycle_bin"] if entry["db"] == db]


def test_drop_table_keeps_the_table_in_the_recycle_bin_and_recover_brings_it_back(sr, db, starrocks):
    run(sr, db, TABLE.format(db=db), "INSERT INTO t VALUES (1, 'a'), (2, 'b')")
    body = b'{"id": 3, "v": "c"}'
    answer = starrocks.http.stream_load(db, "t", body, {"format": "json", "label": unique_name("l")}).json()
    assert answer["Status"] == "Success", answer
    versions = sorted(r["VersionCount"] for r in run(sr, db, f"SHOW TABLET FROM `{db}`.t", dicts=True))
    run(sr, db, "DROP TABLE t")
    assert run(sr, db, "SHOW TABLES") == []
    kept = recycled(sr, db)
    assert [(e["table"], e["rows"], e["bytes"]) for e in kept] == [("t", 3, len(body))]
    run(sr, db, "RECOVER TABLE t")
    assert run(sr, db, "SELECT id, v FROM t ORDER BY id") == [(1, "a"), (2, "b"), (3, "c")]
    assert (
        sorted(r["VersionCount"] for r in run(sr, db, f"SHOW TABLET FROM `{db}`.t", dicts=True)) == versions
    )
    assert recycled(sr, db) == []


def test_recover_refuses_when_a_table_of_that_name_exists_or_none_was_dropped(sr, db):
    run(sr, db, TABLE.format(db=db), "DROP TABLE t", TABLE.format(db=db))
    assert "Table 't' already exists" in refused(sr, db, "RECOVER TABLE t")
    assert "Unknown table 'nothing'" in refused(sr, db, f"RECOVER TABLE `{db}`.nothing")


def test_drop_table_force_deletes_at_once(sr, db):
    run(sr, db, TABLE.format(db=db), "INSERT INTO t VALUES (1, 'a')", "DROP TABLE t FORCE")
    assert recycled(sr, db) == []
    assert "Unknown table 't'" in refused(sr, db, "RECOVER TABLE t")


def test_the_recycle_bin_forgets_tables_after_catalog_trash_expire_second(sr, db):
    if sr.emulator is None:
        pytest.skip("changes the emulator's FE config")
    (before,) = [r[2] for r in run(sr, None, "ADMIN SHOW FRONTEND CONFIG LIKE 'catalog_trash_expire_second'")]
    assert before == "3600"  # the allin1 image's fe.conf
    run(sr, db, TABLE.format(db=db), "DROP TABLE t")
    assert len(recycled(sr, db)) == 1
    run(sr, None, "ADMIN SET FRONTEND CONFIG ('catalog_trash_expire_second' = '0')")
    try:
        assert recycled(sr, db) == []
        assert "Unknown table 't'" in refused(sr, db, "RECOVER TABLE t")
    finally:
        run(sr, None, f"ADMIN SET FRONTEND CONFIG ('catalog_trash_expire_second' = '{before}')")
