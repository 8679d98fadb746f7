"""Versions, labels and load jobs of the emulator, stored in DuckDB tables of the internal schema.

StarRocks gives every committed load (Stream Load, transaction commit, INSERT) a transaction id and a label that
is unique per database; only a label whose job failed (ABORTED/CANCELLED) may be used again. Every committed
write adds one version to each tablet of the table, and `tablet_max_versions` (default 1000) bounds how many
unmerged versions a tablet may hold before loads fail with "too many versions". Load jobs are listed in
`information_schema.loads`. The ledger keeps all of that in tables of `_emulator`, so it persists in the same
DuckDB file as the data and survives a restart. Callers hold the engine lock.

Ids: tables, partitions and tablets take their ids from one counter, as StarRocks' FE takes every catalog id from
one generator, so `information_schema.tables_config.TABLE_ID` joins `information_schema.be_tablets.TABLE_ID`.
Each table has one partition (the emulator does not partition); TRUNCATE gives it a new partition and tablets.
A table also keeps the highest version count any of its tablets reached (`peak_version_count`, for benchmarks:
compaction lowers the current count, not the peak).

Docs: https://docs.starrocks.io/docs/loading/Stream_Load_transaction_interface/ (labels, txn states),
https://docs.starrocks.io/docs/sql-reference/information_schema/loads/ (load jobs),
https://docs.starrocks.io/docs/administration/management/BE_configuration/#tablet_max_versions
"""

from __future__ import annotations

import datetime as dt
import json
import re
import time
import uuid
from typing import Any

import duckdb

from starrocks_emulator.storage.catalog import EmulatorError
from starrocks_emulator.version import current

SCHEMA = "_emulator"
# Job states as information_schema.loads / SHOW LOAD name them; txn states as get_load_state names them.
RUNNING_STATES = ("PREPARE", "PREPARED", "LOADING")
FINISHED_STATES = ("COMMITTED", "VISIBLE")
FAILED_STATE = "ABORTED"
FIRST_TXN_ID = 1000
FIRST_TABLET_ID = 10001
# fe `FeNameFormat.LABEL_REGEX`, checked by `DatabaseTransactionMgr.beginTransaction`; Java's \w is ASCII.
LABEL_REGEX = r"^[-\w]{1,128}$"
_LABEL = re.compile(LABEL_REGEX, re.ASCII)

_DDL = f"""
CREATE SCHEMA IF NOT EXISTS {SCHEMA};
CREATE TABLE IF NOT EXISTS {SCHEMA}.counters (name VARCHAR, value BIGINT);
CREATE TABLE IF NOT EXISTS {SCHEMA}.databases (name VARCHAR);
CREATE TABLE IF NOT EXISTS {SCHEMA}.tables (db VARCHAR, name VARCHAR, meta JSON, create_time TIMESTAMP,
    loads BIGINT DEFAULT 0, versions_created BIGINT DEFAULT 0, bytes BIGINT DEFAULT 0);
CREATE TABLE IF NOT EXISTS {SCHEMA}.tablets (db VARCHAR, tbl VARCHAR, tablet_id BIGINT, version BIGINT,
    version_count BIGINT);
ALTER TABLE {SCHEMA}.tables ADD COLUMN IF NOT EXISTS table_id BIGINT;
ALTER TABLE {SCHEMA}.tables ADD COLUMN IF NOT EXISTS peak_version_count BIGINT DEFAULT 1;
ALTER TABLE {SCHEMA}.tablets ADD COLUMN IF NOT EXISTS partition_id BIGINT;
ALTER TABLE {SCHEMA}.tablets ADD COLUMN IF NOT EXISTS create_unix BIGINT;
CREATE TABLE IF NOT EXISTS {SCHEMA}.loads (txn_id BIGINT, label VARCHAR, db VARCHAR, tbl VARCHAR, state VARCHAR,
    type VARCHAR, scan_rows BIGINT, filtered_rows BIGINT, unselected_rows BIGINT, sink_rows BIGINT,
    load_bytes BIGINT, error_msg VARCHAR, tracking_url VARCHAR, create_time TIMESTAMP,
    load_start_time TIMESTAMP, load_finish_time TIMESTAMP, user_name VARCHAR, commit_unix DOUBLE);
CREATE TABLE IF NOT EXISTS {SCHEMA}.users (name VARCHAR, password VARCHAR);
CREATE TABLE IF NOT EXISTS {SCHEMA}.grants (user_name VARCHAR, privilege VARCHAR, db VARCHAR, tbl VARCHAR);
"""
_LOAD_COLUMNS = (
    "txn_id label db tbl state type scan_rows filtered_rows unselected_rows sink_rows load_bytes error_msg "
    "tracking_url create_time load_start_time load_finish_time user_name commit_unix"
).split()


def now() -> dt.datetime:
    return dt.datetime.now().replace(microsecond=0)


class Ledger:
    """Labels, load jobs, tablets and versions on one DuckDB connection (the caller holds the lock)."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con
        con.execute(_DDL)
        # A restart aborts every running load, as StarRocks aborts a txn whose coordinator is gone; a
        # PREPARED (pre-committed) transaction survives and can still be committed (transaction interface docs).
        con.execute(
            f"UPDATE {SCHEMA}.loads SET state = ?, error_msg = 'emulator restarted' WHERE state IN ('PREPARE', 'LOADING')",
            [FAILED_STATE],
        )

    # ids
    def next_id(self, name: str, first: int, count: int = 1) -> int:
        row = self.con.execute(f"SELECT value FROM {SCHEMA}.counters WHERE name = ?", [name]).fetchone()
        value = row[0] if row else first
        if row:
            self.con.execute(f"UPDATE {SCHEMA}.counters SET value = ? WHERE name = ?", [value + count, name])
        else:
            self.con.execute(f"INSERT INTO {SCHEMA}.counters VALUES (?, ?)", [name, value + count])
        return value

    # labels and load jobs
    def find_label(self, db: str, label: str) -> dict[str, Any] | None:
        """The live (not failed) job holding `label` in `db`, or the latest failed one, or None."""
        rows = self.con.execute(
            f"SELECT {', '.join(_LOAD_COLUMNS)} FROM {SCHEMA}.loads WHERE db = ? AND label = ? "
            f"ORDER BY (state = '{FAILED_STATE}'), txn_id DESC LIMIT 1",
            [db, label],
        ).fetchall()
        return dict(zip(_LOAD_COLUMNS, rows[0], strict=True)) if rows else None

    def job(self, txn_id: int) -> dict[str, Any] | None:
        rows = self.con.execute(
            f"SELECT {', '.join(_LOAD_COLUMNS)} FROM {SCHEMA}.loads WHERE txn_id = ?", [txn_id]
        ).fetchall()
        return dict(zip(_LOAD_COLUMNS, rows[0], strict=True)) if rows else None

    def begin(self, db: str, label: str | None, table: str, load_type: str, user: str) -> tuple[int, str]:
        """Register a new job in PREPARE; raises LabelAlreadyExistsError when a live job holds the label.

        As `DatabaseTransactionMgr.beginTransaction`: `FeNameFormat.checkLabel(label)` first, then every txn of
        the label that is not ABORTED blocks it (`LabelAlreadyUsedException`), so only a failed label is reused.
        """
        if label is None:
            label = f"{load_type.lower()}_{uuid.uuid4().hex}"
        check_label(label)
        existing = self.find_label(db, label)
        if existing is not None and existing["state"] != FAILED_STATE:
            raise LabelAlreadyExistsError(label, existing)
        txn_id = self.next_id("txn_id", FIRST_TXN_ID)
        stamp = now()
        self.con.execute(
            f"INSERT INTO {SCHEMA}.loads VALUES (?, ?, ?, ?, 'PREPARE', ?, 0, 0, 0, 0, 0, NULL, NULL, ?, ?, NULL, ?, NULL)",
            [txn_id, label, db, table, load_type, stamp, stamp, user],
        )
        return txn_id, label

    def set_state(self, txn_id: int, state: str, **fields: Any) -> None:
        assignments = ["state = ?"]
        values: list[Any] = [state]
        for name, value in fields.items():
            assignments.append(f"{name} = ?")
            values.append(value)
        if state in FINISHED_STATES or state == FAILED_STATE:
            assignments.append("load_finish_time = ?")
            values.append(now())
        if state in FINISHED_STATES:
            assignments.append("commit_unix = coalesce(commit_unix, ?)")
            values.append(time.time())
        self.con.execute(
            f"UPDATE {SCHEMA}.loads SET {', '.join(assignments)} WHERE txn_id = ?", [*values, txn_id]
        )

    def jobs(self) -> list[dict[str, Any]]:
        rows = self.con.execute(
            f"SELECT {', '.join(_LOAD_COLUMNS)} FROM {SCHEMA}.loads ORDER BY txn_id"
        ).fetchall()
        return [dict(zip(_LOAD_COLUMNS, row, strict=True)) for row in rows]

    # tablets and versions
    def create_tablets(self, db: str, table: str, buckets: int, table_id: int) -> None:
        """A new partition with `buckets` tablets at version 1 (one empty rowset each), of the table whose id
        (TableMeta.table_id, information_schema's TABLE_ID) be_tablets reports."""
        self.con.execute(
            f"UPDATE {SCHEMA}.tables SET table_id = ? WHERE db = ? AND name = ?",
            [table_id or None, db, table],
        )
        partition = self.next_id("tablet_id", FIRST_TABLET_ID, buckets + 1)
        created = int(time.time())
        self.con.executemany(
            f"INSERT INTO {SCHEMA}.tablets (db, tbl, tablet_id, version, version_count, partition_id, create_unix) "
            "VALUES (?, ?, ?, 1, 1, ?, ?)",
            [[db, table, partition + 1 + i, partition, created] for i in range(buckets)],
        )

    def drop_tablets(self, db: str, table: str) -> None:
        self.con.execute(f"DELETE FROM {SCHEMA}.tablets WHERE db = ? AND tbl = ?", [db, table])

    def tablets(self, db: str, table: str) -> list[tuple[int, int, int]]:
        """(tablet_id, version, version_count) per tablet."""
        return self.con.execute(
            f"SELECT tablet_id, version, version_count FROM {SCHEMA}.tablets WHERE db = ? AND tbl = ? "
            "ORDER BY tablet_id",
            [db, table],
        ).fetchall()

    def check_versions(self, db: str, table: str, limit: int) -> None:
        """StarRocks refuses a write to a tablet holding more than `tablet_max_versions` versions (checked as
        `version_count > limit`), or, shared-data, to a partition whose compaction score is too large."""
        row = self.con.execute(
            f"SELECT tablet_id, version_count FROM {SCHEMA}.tablets WHERE db = ? AND tbl = ? "
            "ORDER BY version_count DESC, tablet_id LIMIT 1",
            [db, table],
        ).fetchone()
        if row is not None and row[1] > limit:
            raise EmulatorError(1064, too_many_versions_message(table, row[0], row[1], limit))

    def publish_version(self, db: str, table: str, load_bytes: int, counts_as_load: bool) -> None:
        """One new version on every tablet of the table (StarRocks publishes a txn to all touched tablets)."""
        self.con.execute(
            f"UPDATE {SCHEMA}.tablets SET version = version + 1, version_count = version_count + 1 "
            "WHERE db = ? AND tbl = ?",
            [db, table],
        )
        self.con.execute(
            f"UPDATE {SCHEMA}.tables SET loads = loads + ?, versions_created = versions_created + 1, "
            "bytes = bytes + ?, peak_version_count = greatest(coalesce(peak_version_count, 1), "
            f"(SELECT max(version_count) FROM {SCHEMA}.tablets WHERE db = ? AND tbl = ?)) WHERE db = ? AND name = ?",
            [1 if counts_as_load else 0, load_bytes, db, table, db, table],
        )

    def compact(self, max_merged: int | None = None) -> int:
        """Merge versions on every tablet: down to one rowset (`max_merged` None), or lower each tablet's version
        count by at most `max_merged` (never below 1). Returns how many tablets changed."""
        changed = self.con.execute(
            f"SELECT count(*) FROM {SCHEMA}.tablets WHERE version_count > 1"
        ).fetchone()
        if max_merged is None:
            self.con.execute(f"UPDATE {SCHEMA}.tablets SET version_count = 1 WHERE version_count > 1")
        elif max_merged > 0:
            self.con.execute(
                f"UPDATE {SCHEMA}.tablets SET version_count = greatest(1, version_count - ?) WHERE version_count > 1",
                [max_merged],
            )
        else:
            return 0
        return int(changed[0]) if changed else 0

    def tablet_infos(self, table_id: int | None = None) -> list[dict[str, Any]]:
        """Every tablet (of one table when `table_id` is given) with its table's name, id and model."""
        where, args = ("WHERE t.table_id = ?", [table_id]) if table_id is not None else ("", [])
        rows = self.con.execute(
            f"SELECT t.db, t.name, t.table_id, b.partition_id, b.tablet_id, b.version, b.version_count, "
            f"b.create_unix, t.bytes FROM {SCHEMA}.tables t JOIN {SCHEMA}.tablets b ON b.db = t.db AND b.tbl = t.name "
            f"{where} ORDER BY b.tablet_id",
            args,
        ).fetchall()
        names = "db table table_id partition_id tablet_id version version_count create_unix bytes".split()
        return [dict(zip(names, row, strict=True)) for row in rows]

    def table_stats(self) -> dict[str, dict[str, int]]:
        rows = self.con.execute(
            f"SELECT t.db, t.name, t.loads, t.versions_created, t.bytes, count(b.tablet_id), "
            f"coalesce(max(b.version_count), 0), coalesce(t.peak_version_count, 1) FROM {SCHEMA}.tables t "
            f"LEFT JOIN {SCHEMA}.tablets b ON b.db = t.db AND b.tbl = t.name GROUP BY ALL ORDER BY t.db, t.name"
        ).fetchall()
        return {
            f"{db}.{name}": {
                "loads": loads,
                "versions_created": versions,
                "version_count": version_count,
                "peak_version_count": max(peak, version_count),
                "bytes": nbytes,
                "tablets": tablets,
            }
            for db, name, loads, versions, nbytes, tablets, version_count, peak in rows
        }

    def commit_times(self) -> dict[str, list[float]]:
        """Unix commit time of every committed load per `db.table`, in commit order (benchmarks' load rate); a
        multi-table transaction's job names its tables comma-separated and counts for each."""
        rows = self.con.execute(
            f"SELECT db, tbl, commit_unix FROM {SCHEMA}.loads WHERE commit_unix IS NOT NULL ORDER BY commit_unix"
        ).fetchall()
        times: dict[str, list[float]] = {}
        for db, tables, unix in rows:
            for table in tables.split(","):
                times.setdefault(f"{db}.{table}", []).append(unix)
        return times

    def load_totals(self) -> dict[str, int]:
        rows = self.con.execute(f"SELECT state, count(*) FROM {SCHEMA}.loads GROUP BY state").fetchall()
        by_state = dict(rows)
        return {
            "committed": sum(by_state.get(s, 0) for s in FINISHED_STATES),
            "failed": by_state.get(FAILED_STATE, 0),
            "running": sum(by_state.get(s, 0) for s in RUNNING_STATES),
        }


def information_schema_loads(jobs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows of information_schema.loads, columns as docs/en/sql-reference/information_schema/loads.md (3.3+).

    TYPE is `STREAM` for Stream Loads (plain and transactional) and `INSERT` for INSERT statements; STATE
    maps the txn state: PREPARE -> LOADING, PREPARED -> PREPARED, COMMITTED -> COMMITED (StarRocks'
    spelling), VISIBLE -> FINISHED, ABORTED -> CANCELLED.
    """
    states = {
        "PREPARE": "LOADING",
        "PREPARED": "PREPARED",
        "COMMITTED": "COMMITED",
        "VISIBLE": "FINISHED",
    }
    rows = []
    for j in jobs:
        state = states.get(j["state"], "CANCELLED")
        done = state in ("FINISHED", "COMMITED")
        rows.append(
            {
                "ID": j["txn_id"],
                "LABEL": j["label"],
                "PROFILE_ID": None,
                "DB_NAME": j["db"],
                "TABLE_NAME": j["tbl"],
                "USER": j["user_name"],
                "WAREHOUSE": "default_warehouse",
                "STATE": state,
                "PROGRESS": "ETL:100%; LOAD:100%" if done else "ETL:0%; LOAD:0%",
                "TYPE": j["type"],
                "PRIORITY": "NORMAL",
                "SCAN_ROWS": j["scan_rows"],
                "SCAN_BYTES": j["load_bytes"],
                "FILTERED_ROWS": j["filtered_rows"],
                "UNSELECTED_ROWS": j["unselected_rows"],
                "SINK_ROWS": j["sink_rows"],
                "RUNTIME_DETAILS": json.dumps({"txn_id": j["txn_id"]}),
                "CREATE_TIME": j["create_time"],
                "LOAD_START_TIME": j["load_start_time"],
                "LOAD_COMMIT_TIME": j["load_finish_time"] if done else None,
                "LOAD_FINISH_TIME": j["load_finish_time"],
                "PROPERTIES": "{}",
                "ERROR_MSG": j["error_msg"],
                "TRACKING_SQL": None,
                "REJECTED_RECORD_PATH": j["tracking_url"],
                "JOB_ID": j["txn_id"],
            }
        )
    return rows


def check_label(label: str) -> None:
    """fe `FeNameFormat.checkLabel`: "Label format error. regex: ^[-\\w]{1,128}$, label: L"."""
    if not _LABEL.match(label):
        raise EmulatorError(1064, f"Label format error. regex: {LABEL_REGEX}, label: {label}")


def too_many_versions_message(table: str, tablet_id: int, count: int, limit: int) -> str:
    """What a load past the limit fails with, in today's words.

    Shared-nothing, be/src/storage/delta_writer.cpp (`Status::ServiceUnavailable`): "Failed to load data into
    tablet {}, because of too many versions, current/limit: {}/{}. You can reduce ..." (releases before 2.5
    said "Too many versions. tablet_id: ..."). Shared-data, the FE's commit check: "Failed to load data into
    partition {}, because of too large compaction score, current/limit: {}/{}. You can reduce the loading job
    concurrency, or increase compaction concurrency" (docs compaction page). The emulator has one partition
    per table, named after it, and takes a tablet's version count as its compaction score (not verified).
    """
    if current().shared_data:
        return (
            f"Failed to load data into partition {table}, because of too large compaction score, "
            f"current/limit: {count}/{limit}. You can reduce the loading job concurrency, or increase "
            "compaction concurrency"
        )
    return (
        f"Failed to load data into tablet {tablet_id}, because of too many versions, current/limit: "
        f"{count}/{limit}. You can reduce the loading job concurrency, or increase loading data batch size. "
        "If you are loading data with Routine Load, you can increase FE configs "
        "routine_load_task_consume_second and max_routine_load_batch_size,"
    )


class LabelAlreadyExistsError(EmulatorError):
    """A live job already holds the label: StarRocks answers `Label Already Exists` + `ExistingJobStatus`,
    with fe `LabelAlreadyUsedException`'s words "Label [L] has already been used." (not Doris' "relate to")."""

    def __init__(self, label: str, existing: dict[str, Any]) -> None:
        super().__init__(5025, f"Label [{label}] has already been used.")
        self.label = label
        self.existing = existing

    @property
    def existing_job_status(self) -> str:
        return "FINISHED" if self.existing["state"] in FINISHED_STATES else "RUNNING"
