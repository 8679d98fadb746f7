"""ALTER TABLE the way StarRocks runs it: as a job, one per table at a time, followed until it ends.

StarRocks runs column changes as asynchronous jobs ("Operations on bucket, column and rollup index are
asynchronous", ALTER_TABLE docs; "one table can have only one ongoing schema change"), listed by
`SHOW ALTER TABLE COLUMN FROM db WHERE TableName = "t"` (fe `SchemaChangeProcDir`: JobId, TableName,
CreateTime, ..., State, Msg, ...) with the states PENDING, WAITING_TXN, RUNNING, FINISHED and CANCELLED
(fe `AlterJobV2.JobState`). With fast schema evolution on a shared-nothing cluster an ADD COLUMN is applied
at once and creates no job (fe `SchemaChangeHandler`: `fastSchemaEvolutionInShareNothingMode(...); return
null`). `DESC` cannot tell a running job from a cancelled one, so the connector follows the job instead:

1. wait until no job of the table is running (never ALTER while another change runs: StarRocks would answer
   "A schema change operation is in progress on the table ..." (fe `InvalidOlapTableStateException`));
2. compute the clauses from the table's schema as it is *now* (the caller's `pending()`), so a change that
   already happened (an earlier attempt's, or one whose answer a broken connection lost) is never sent again;
3. send the ALTER; a busy answer means wait and go back to 1; a lost connection means go back to 1 too;
4. follow the new job (the newest JobId, if it is new) until FINISHED; CANCELLED raises `JobCancelled` with
   StarRocks' message, and the caller decides what that means (tables.py: an ADD COLUMN fails the sync as a
   transient error, a MODIFY COLUMN keeps the old type).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from destination_starrocks.errors import StarRocksSqlError, TransientError
from destination_starrocks.naming import quote_identifier
from destination_starrocks.sql import OutcomeUnknown

logger = logging.getLogger("airbyte")

SCHEMA_CHANGE_TIMEOUT_SECONDS = 3600.0
POLL_SECONDS = (0.05, 0.1, 0.2, 0.5, 1.0, 2.0)  # then every 2 s
PROGRESS_LOG_SECONDS = 30.0
RUNNING_STATES = frozenset({"PENDING", "WAITING_TXN", "RUNNING"})
FINISHED, CANCELLED = "FINISHED", "CANCELLED"
# The answers of a table busy with another operation: newer FEs (InvalidOlapTableStateException) and older.
BUSY_MESSAGES = ("please wait until the current operation completes", "state is not normal")


@dataclass(frozen=True)
class Job:
    job_id: int
    state: str
    message: str


class JobCancelled(StarRocksSqlError):
    """StarRocks cancelled the schema change job; `message` carries its Msg."""

    def __init__(self, db: str, table: str, job: Job) -> None:
        self.job = job
        super().__init__(0, f"schema change job {job.job_id} of {db}.{table} was CANCELLED: {job.message}")


def is_busy(exc: StarRocksSqlError) -> bool:
    text = str(exc).lower()
    return any(message in text for message in BUSY_MESSAGES)


class SchemaChanger:
    """Runs ALTER TABLE statements on one connection and waits for StarRocks' jobs."""

    def __init__(
        self,
        sql: Any,
        timeout: float = SCHEMA_CHANGE_TIMEOUT_SECONDS,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._sql = sql
        self._timeout = timeout
        self._sleep = sleep
        self._clock = clock

    def newest_job(self, db: str, table: str) -> Job | None:
        rows = self._sql.query_named(
            f"SHOW ALTER TABLE COLUMN FROM {quote_identifier(db)} WHERE TableName = %s", (table,)
        )
        jobs = [
            Job(int(row.get("JobId") or 0), str(row.get("State") or "").upper(), str(row.get("Msg") or ""))
            for row in rows
        ]
        return max(jobs, key=lambda job: job.job_id, default=None)

    def wait_idle(self, db: str, table: str, deadline: float | None = None) -> Job | None:
        """Wait until the table's newest job is over; returns it (None: the table never had one)."""
        return self._wait_idle(db, table, deadline)[0]

    def _wait_idle(self, db: str, table: str, deadline: float | None) -> tuple[Job | None, bool]:
        deadline = deadline if deadline is not None else self._clock() + self._timeout
        attempt, logged = 0, self._clock()
        while True:
            job = self.newest_job(db, table)
            if job is None or job.state not in RUNNING_STATES:
                return job, attempt > 0
            now = self._clock()
            if now > deadline:
                raise TransientError(
                    f"The schema change job {job.job_id} of {db}.{table} is still {job.state} after "
                    f"{self._timeout:.0f} s. The next sync waits for it again and does not send the change twice "
                    "(see SHOW ALTER TABLE COLUMN)."
                )
            if now - logged >= PROGRESS_LOG_SECONDS:
                logger.info(
                    "Waiting for schema change job %s of %s.%s (%s)", job.job_id, db, table, job.state
                )
                logged = now
            self._sleep(POLL_SECONDS[min(attempt, len(POLL_SECONDS) - 1)])
            attempt += 1

    def apply(self, db: str, table: str, pending: Callable[[], str]) -> bool:
        """ALTER TABLE `db`.`table` <pending()> until nothing is pending; True if a change was sent.

        `pending()` returns the clauses still needed, computed from the table's current schema ("" when none).
        Raises JobCancelled when StarRocks cancels the job, TransientError past the timeout.
        """
        deadline = self._clock() + self._timeout
        while True:
            clauses = pending()
            if not clauses:
                return False
            before, waited = self._wait_idle(db, table, deadline)
            if waited:  # another change ran meanwhile: look at the schema again
                continue
            try:
                self._sql.execute(
                    f"ALTER TABLE {quote_identifier(db)}.{quote_identifier(table)} {clauses}",
                    idempotent=False,
                )
            except OutcomeUnknown as exc:
                logger.warning(
                    "Lost the answer to a schema change of %s.%s (%s); checking the schema", db, table, exc
                )
                continue
            except StarRocksSqlError as exc:
                if not is_busy(exc) or self._clock() > deadline:
                    raise
                logger.info("Table %s.%s is busy with another operation; waiting: %s", db, table, exc)
                self._sleep(POLL_SECONDS[-1])
                continue
            job = self.wait_idle(db, table, deadline)
            if job is not None and (before is None or job.job_id != before.job_id) and job.state == CANCELLED:
                raise JobCancelled(db, table, job)
            return True
