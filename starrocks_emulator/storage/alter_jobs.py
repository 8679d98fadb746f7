"""Schema change jobs: what `ALTER TABLE ... ADD/DROP/MODIFY COLUMN` starts, and `SHOW ALTER TABLE COLUMN` lists.

StarRocks runs a schema change as a job of the FE's alter handler, not inside the statement
(docs ALTER_TABLE.md: "Operations on bucket, column and rollup index are asynchronous ... run SHOW ALTER TABLE
to check"; "One table can have only one ongoing schema change"). fe/.../alter/SchemaChangeJobV2.java moves a job
PENDING -> WAITING_TXN -> RUNNING -> FINISHED, or to CANCELLED with `errMsg`; one step per run of the alter
scheduler (`alter_scheduler_interval_millisecond`, 10000 in StarRocks; the emulator's default is 300 so tests stay
quick, `ADMIN SET FRONTEND CONFIG` changes it). While a job is unfinished the table is in state SCHEMA_CHANGE and
every other ALTER fails with common/InvalidOlapTableStateException's text: "A schema change operation is in
progress on the table \"t\". Please wait until the current operation completes.\nTo check the status of the
operation, see <FeConstants.DOCUMENT_SHOW_ALTER>". Loads go on meanwhile; the new schema appears (DESC) only
when the job finishes. With fast schema evolution (table property `fast_schema_evolution`, on by default since
3.2 through `Config.enable_fast_schema_evolution = true`), ADD and DROP COLUMN change only metadata: the job is
registered already FINISHED (SchemaChangeHandler.modifyTableAddOrDrop adds it to the alter jobs).

Rows of SHOW ALTER TABLE COLUMN follow common/proc/SchemaChangeProcDir.TITLE_NAMES (shared-nothing) and
SchemaChangeJobV2.getInfo: JobId, TableName, CreateTime, FinishTime (`TimeUtils.longToTimeString`, "NULL" until
finished), IndexName, IndexId (the shadow index), OriginIndexId, SchemaVersion (`version:hash`; the exact text
is not verified), TransactionId (the watershed txn id), State, Msg, Progress ("finished/total" tablets while
RUNNING, else "NULL"), Timeout (`alter_table_timeout_second`, 86400). Jobs live in `_emulator.alter_jobs`, so they
survive a restart like the FE's edit log.
"""

from __future__ import annotations

import datetime as dt
import json
import time
import zlib
from dataclasses import asdict, dataclass, field
from typing import Any

import duckdb

from starrocks_emulator.storage.catalog import EmulatorError

SCHEMA = "_emulator"
TITLE_NAMES = [
    "JobId", "TableName", "CreateTime", "FinishTime", "IndexName", "IndexId", "OriginIndexId", "SchemaVersion",
    "TransactionId", "State", "Msg", "Progress", "Timeout",
]  # fmt: skip
STEPS = ("PENDING", "WAITING_TXN", "RUNNING")
FINISHED, CANCELLED = "FINISHED", "CANCELLED"
ALTER_TABLE_TIMEOUT_SECOND = 86400
DOCUMENT_SHOW_ALTER = (
    "https://docs.starrocks.io/en-us/latest/sql-reference/sql-statements/data-manipulation/SHOW%20ALTER"
)
FIRST_JOB_ID = 20001
_DDL = f"CREATE TABLE IF NOT EXISTS {SCHEMA}.alter_jobs (job_id BIGINT, db VARCHAR, tbl VARCHAR, job JSON)"


def in_progress_error(table: str) -> EmulatorError:
    """InvalidOlapTableStateException for a table in SCHEMA_CHANGE (a DdlException: 1064 over MySQL)."""
    return EmulatorError(
        1064,
        f'A schema change operation is in progress on the table "{table}". Please wait until the current '
        f"operation completes.\nTo check the status of the operation, see {DOCUMENT_SHOW_ALTER}",
    )


def _time_text(unix: float | None) -> str:
    if not unix:
        return "NULL"
    return dt.datetime.fromtimestamp(unix).strftime("%Y-%m-%d %H:%M:%S")


@dataclass
class AlterJob:
    job_id: int
    db: str
    table: str
    index_id: int
    origin_index_id: int
    schema_version: int
    transaction_id: int
    created: float  # unix seconds
    step_seconds: float  # one alter-scheduler round per state
    tablets: int
    columns: list[dict[str, Any]]  # the schema the job produces (storage/catalog.Column fields)
    modified: list[str] = field(default_factory=list)  # columns whose type the job converts
    state: str = "PENDING"
    msg: str = ""
    finished: float | None = None

    @property
    def done(self) -> bool:
        return self.state in (FINISHED, CANCELLED)

    def due(self, now: float) -> bool:
        """True once the job has gone through its rounds and should be finished (or cancelled)."""
        return not self.done and now >= self.created + self.step_seconds * len(STEPS)

    def state_at(self, now: float) -> str:
        if self.done:
            return self.state
        step = int((now - self.created) / self.step_seconds) if self.step_seconds > 0 else len(STEPS) - 1
        return STEPS[min(step, len(STEPS) - 1)]

    def row(self, now: float) -> tuple:
        state = self.state_at(now)
        progress = "NULL"
        if state == "RUNNING":
            running_since = self.created + 2 * self.step_seconds
            share = (
                min(1.0, max(0.0, (now - running_since) / self.step_seconds)) if self.step_seconds else 1.0
            )
            progress = f"{int(share * self.tablets)}/{self.tablets}"
        schema_hash = zlib.crc32(f"{self.db}.{self.table}.{self.schema_version}".encode()) & 0x7FFFFFFF
        return (
            str(self.job_id), self.table, _time_text(self.created), _time_text(self.finished), self.table,
            str(self.index_id), str(self.origin_index_id), f"{self.schema_version}:{schema_hash}",
            str(self.transaction_id), state, self.msg, progress, str(ALTER_TABLE_TIMEOUT_SECOND),
        )  # fmt: skip


class AlterJobs:
    """The alter jobs of every table, persisted in `_emulator.alter_jobs` (the caller holds the engine lock)."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con
        con.execute(_DDL)
        self._jobs: list[AlterJob] = [
            AlterJob(**json.loads(job))
            for (job,) in con.execute(f"SELECT job FROM {SCHEMA}.alter_jobs ORDER BY job_id").fetchall()
        ]
        self._open = [j for j in self._jobs if not j.done]  # looked at on every table access: kept short

    def _save(self, job: AlterJob) -> None:
        payload = json.dumps(asdict(job))
        self.con.execute(f"DELETE FROM {SCHEMA}.alter_jobs WHERE job_id = ?", [job.job_id])
        self.con.execute(
            f"INSERT INTO {SCHEMA}.alter_jobs VALUES (?, ?, ?, ?)", [job.job_id, job.db, job.table, payload]
        )

    def add(self, job: AlterJob) -> None:
        self._jobs.append(job)
        if not job.done:
            self._open.append(job)
        self._save(job)

    def end(self, job: AlterJob, state: str, msg: str = "") -> None:
        job.state, job.msg, job.finished = state, msg, time.time()
        self._open = [j for j in self._open if j is not job]
        self._save(job)

    def unfinished(self, db: str, table: str) -> AlterJob | None:
        return next((j for j in self._open if j.db == db and j.table == table), None)

    def due(self, now: float | None = None) -> list[AlterJob]:
        if not self._open:
            return []
        now = time.time() if now is None else now
        return [j for j in self._open if j.due(now)]

    def versions(self, db: str, table: str) -> int:
        return sum(1 for j in self._jobs if j.db == db and j.table == table)

    def rows(self, db: str, now: float | None = None) -> list[tuple]:
        now = time.time() if now is None else now
        return [j.row(now) for j in self._jobs if j.db == db]
