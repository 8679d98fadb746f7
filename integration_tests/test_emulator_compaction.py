"""The emulator's compaction model and what it reports of versions (emulator-only: each test starts its own).

StarRocks facts followed (starrocks_emulator/sql/be_system_tables.py and storage/engine.py cite them):
`information_schema.be_tablets` has 20 columns, NUM_VERSION is the count `tablet_max_versions` bounds, and a
user sees the tablets of the tables it holds a privilege on; `information_schema.be_configs` needs OPERATE on
SYSTEM and `UPDATE information_schema.be_configs` sets a mutable BE config; `max_compaction_concurrency` 0
disables compaction. The rate of the model (`--compaction-versions-per-second`) is the emulator's own knob.
"""

from __future__ import annotations

import time
import uuid

import pymysql
import pytest

from starrocks_emulator.http_client import StreamLoadClient
from starrocks_emulator.process import EmulatorProcess

pytestmark = pytest.mark.timeout(120)
BE_TABLETS_COLUMNS = [
    "BE_ID", "TABLE_ID", "PARTITION_ID", "TABLET_ID", "NUM_VERSION", "MAX_VERSION", "MIN_VERSION", "NUM_ROWSET",
    "NUM_ROW", "DATA_SIZE", "INDEX_MEM", "CREATE_TIME", "STATE", "TYPE", "DATA_DIR", "SHARD_ID", "SCHEMA_HASH",
    "INDEX_DISK", "MEDIUM_TYPE", "NUM_SEGMENT",
]  # fmt: skip
OPERATE_DENIED = (
    "Access denied; you need (at least one of) the OPERATE privilege(s) on SYSTEM for this operation."
)


def sql(emu: EmulatorProcess, user: str = "root", password: str = "") -> pymysql.cursors.Cursor:
    return pymysql.connect(
        host=emu.host, port=emu.query_port, user=user, password=password or emu.root_password, autocommit=True
    ).cursor()


def setup(emu: EmulatorProcess, buckets: int = 2) -> tuple[pymysql.cursors.Cursor, StreamLoadClient, int]:
    cur = sql(emu)
    cur.execute("CREATE DATABASE d")
    cur.execute(
        f"CREATE TABLE d.t (id BIGINT NOT NULL) DUPLICATE KEY(id) DISTRIBUTED BY HASH(id) BUCKETS {buckets}"
    )
    cur.execute(
        "SELECT TABLE_ID FROM information_schema.tables_config WHERE TABLE_SCHEMA = 'd' AND TABLE_NAME = 't'"
    )
    table_id = cur.fetchone()[0]
    return cur, StreamLoadClient(emu.host, emu.http_port, "root", emu.root_password), table_id


def load(client: StreamLoadClient, times: int = 1) -> None:
    for _ in range(times):
        answer = client.stream_load(
            "d", "t", b'{"id":1}', {"label": uuid.uuid4().hex, "format": "json"}
        ).json()
        assert answer["Status"] == "Success", answer


def max_versions(cur: pymysql.cursors.Cursor, table_id: int) -> int:
    cur.execute("SELECT MAX(NUM_VERSION) FROM information_schema.be_tablets WHERE TABLE_ID = %s", (table_id,))
    return int(cur.fetchone()[0])


def test_be_tablets_has_starrocks_columns_and_counts_one_version_per_load_per_tablet(emulator):
    cur, client, table_id = setup(emulator)
    cur.execute("SELECT * FROM information_schema.be_tablets WHERE TABLE_ID = %s", (table_id,))
    assert [d[0] for d in cur.description] == BE_TABLETS_COLUMNS
    before = cur.fetchall()
    assert len(before) == 2 and {row[4] for row in before} == {1}  # a new tablet: one (empty) version
    load(client, 3)
    cur.execute(
        "SELECT b.NUM_VERSION, b.MAX_VERSION, b.STATE, b.TYPE FROM information_schema.be_tablets b "
        "JOIN information_schema.tables_config c ON b.TABLE_ID = c.TABLE_ID WHERE c.TABLE_NAME = 't'"
    )
    assert cur.fetchall() == ((4, 4, "RUNNING", "DUP"), (4, 4, "RUNNING", "DUP"))
    assert emulator.stats()["tables"]["d.t"]["peak_version_count"] == 4


def test_stopped_compaction_keeps_every_version_and_slow_compaction_merges_at_its_rate():
    rate = 4.0
    with EmulatorProcess(
        compaction_interval_seconds=0.1, compaction_versions_per_second=rate, compaction_stopped=True
    ) as emu:
        cur, client, table_id = setup(emu)
        load(client, 30)
        time.sleep(1.0)
        assert max_versions(cur, table_id) == 31  # stopped: nothing merged
        started = time.monotonic()
        cur.execute(
            "UPDATE information_schema.be_configs SET VALUE = '-1' WHERE NAME = 'max_compaction_concurrency'"
        )
        time.sleep(1.0)
        count = max_versions(cur, table_id)
        elapsed = time.monotonic() - started
        assert 31 - count <= rate * elapsed + 1  # no faster than the rate...
        deadline = time.monotonic() + 30
        while max_versions(cur, table_id) > 1 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert max_versions(cur, table_id) == 1  # ... and all the way down in the end
        assert emu.stats()["tables"]["d.t"]["peak_version_count"] == 31


def test_be_configs_needs_operate_and_sets_the_version_limit_at_runtime():
    with EmulatorProcess(tablet_max_versions=5) as emu:
        cur, client, table_id = setup(emu, buckets=1)
        cur.execute(
            "SELECT NAME, VALUE, TYPE, `DEFAULT`, MUTABLE FROM information_schema.be_configs ORDER BY NAME"
        )
        assert cur.fetchall() == (
            ("max_compaction_concurrency", "-1", "int32", "-1", 1),
            ("tablet_max_versions", "5", "int16", "1000", 1),
        )
        cur.execute("CREATE USER loader IDENTIFIED BY 'pw'")
        cur.execute("GRANT INSERT ON d.t TO USER loader")
        cur.execute(
            "CREATE TABLE d.other (id BIGINT NOT NULL) DUPLICATE KEY(id) DISTRIBUTED BY HASH(id) BUCKETS 1"
        )
        loader = sql(emu, "loader", "pw")
        loader.execute("SELECT DISTINCT TABLE_ID FROM information_schema.be_tablets")
        assert loader.fetchall() == ((table_id,),)  # only the table it holds a privilege on
        with pytest.raises(pymysql.MySQLError) as denied:
            loader.execute("SELECT VALUE FROM information_schema.be_configs")
        assert denied.value.args[0] == 5203 and denied.value.args[1].startswith(OPERATE_DENIED)
        with pytest.raises(pymysql.MySQLError) as denied:
            loader.execute("SHOW TABLET FROM d.t")  # OPERATE too, even on a table it may load into
        assert denied.value.args[0] == 5203 and denied.value.args[1].startswith(OPERATE_DENIED)
        with pytest.raises(pymysql.MySQLError):
            loader.execute(
                "UPDATE information_schema.be_configs SET VALUE = 1 WHERE NAME = 'tablet_max_versions'"
            )
        cur.execute("UPDATE information_schema.be_configs SET VALUE = 7 WHERE NAME = 'tablet_max_versions'")
        load(client, 7)  # a load is refused only once a tablet holds more than the limit (1 + 7 = 8)
        answer = client.stream_load(
            "d", "t", b'{"id":1}', {"label": uuid.uuid4().hex, "format": "json"}
        ).json()
        assert answer["Status"] == "Fail" and "too many versions, current/limit: 8/7." in answer["Message"]
        with pytest.raises(pymysql.MySQLError, match="'no_such_config' is not found"):
            cur.execute("UPDATE information_schema.be_configs SET VALUE = 1 WHERE NAME = 'no_such_config'")
