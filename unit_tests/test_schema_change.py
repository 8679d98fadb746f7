"""Schema changes follow StarRocks' job (SHOW ALTER TABLE COLUMN), never DESC, and are never sent twice."""

from __future__ import annotations

import pytest

from destination_starrocks.errors import StarRocksSqlError, TransientError
from destination_starrocks.schema_change import JobCancelled, SchemaChanger
from destination_starrocks.sql import OutcomeUnknown

BUSY = (
    'A schema change operation is in progress on the table "t". Please wait until the current operation '
    "completes.\nTo check the status of the operation, see https://docs.starrocks.io/docs/sql-reference/"
)


class FakeCluster:
    """A table whose ALTERs become jobs that run for `polls` SHOW ALTERs, then end in `final`."""

    def __init__(self, polls: int = 2, final: str = "FINISHED", message: str = "") -> None:
        self.jobs: list[dict] = []
        self.statements: list[str] = []
        self.polls, self.final, self.message = polls, final, message
        self.applied: list[str] = []
        self.answers: list[
            Exception | None
        ] = []  # per ALTER: raise this (after applying, for OutcomeUnknown)
        self.synchronous = False

    def query_named(self, sql: str, args=None) -> list[dict]:  # noqa: ANN001
        self.statements.append(sql)
        assert sql == "SHOW ALTER TABLE COLUMN FROM `db` WHERE TableName = %s" and args == ("t",)
        for job in self.jobs:
            if job["State"] == "RUNNING":
                job["left"] -= 1
                if job["left"] < 0:
                    job["State"], job["Msg"] = self.final, self.message
        return [{k: v for k, v in job.items() if k != "left"} for job in self.jobs]

    def execute(self, sql: str, args=None, idempotent: bool = True) -> int:  # noqa: ANN001
        assert not idempotent  # an ALTER must never be re-sent blindly by the SQL client
        self.statements.append(sql)
        answer = self.answers.pop(0) if self.answers else None
        if answer is not None and not isinstance(answer, OutcomeUnknown):
            raise answer
        self.applied.append(sql)
        if not self.synchronous:
            self.jobs.append({"JobId": str(1000 + len(self.jobs)), "TableName": "t", "State": "RUNNING",
                              "Msg": "", "left": self.polls})  # fmt: skip
        if answer is not None:
            raise answer
        return 0

    def running(self) -> None:
        self.jobs.append(
            {"JobId": "999", "TableName": "t", "State": "RUNNING", "Msg": "", "left": self.polls}
        )


def changer(cluster: FakeCluster, timeout: float = 3600.0) -> SchemaChanger:
    clock = iter(range(0, 10**9))
    return SchemaChanger(cluster, timeout=timeout, sleep=lambda s: None, clock=lambda: float(next(clock)))


def pending_until_applied(cluster: FakeCluster, clause: str = "ADD COLUMN `c` BIGINT NULL"):  # noqa: ANN201
    """What the table still lacks: the clause, until an ALTER carrying it was applied and its job finished."""

    def pending() -> str:
        done = any(job["State"] == "FINISHED" for job in cluster.jobs) or (
            cluster.synchronous and cluster.applied
        )
        return "" if done else clause

    return pending


def test_an_alter_is_followed_through_its_job_until_finished():
    cluster = FakeCluster(polls=3)
    assert changer(cluster).apply("db", "t", pending_until_applied(cluster)) is True
    assert cluster.applied == ["ALTER TABLE `db`.`t` ADD COLUMN `c` BIGINT NULL"]
    assert cluster.jobs[-1]["State"] == "FINISHED"
    assert not any(s.startswith("DESC") for s in cluster.statements)


def test_a_synchronous_change_fast_schema_evolution_needs_no_job():
    cluster = FakeCluster()
    cluster.synchronous = True
    assert changer(cluster).apply("db", "t", pending_until_applied(cluster)) is True
    assert len(cluster.applied) == 1


def test_a_cancelled_job_is_reported_with_starrocks_message():
    cluster = FakeCluster(final="CANCELLED", message="Cancelled by user")
    with pytest.raises(JobCancelled, match="CANCELLED: Cancelled by user"):
        changer(cluster).apply("db", "t", lambda: "MODIFY COLUMN `c` BIGINT NULL")


def test_another_running_change_is_waited_for_and_the_schema_looked_at_again():
    cluster = FakeCluster()
    cluster.running()  # e.g. an earlier attempt's ADD COLUMN, still running
    looks = []

    def pending() -> str:
        looks.append(1)
        return "" if cluster.jobs[0]["State"] == "FINISHED" else "ADD COLUMN `c` BIGINT NULL"

    assert changer(cluster).apply("db", "t", pending) is False
    assert cluster.applied == [] and len(looks) == 2  # waited, looked again: nothing left to do


def test_a_busy_answer_waits_and_retries():
    cluster = FakeCluster()
    cluster.answers = [StarRocksSqlError(1064, BUSY), StarRocksSqlError(1064, BUSY)]
    assert changer(cluster).apply("db", "t", pending_until_applied(cluster)) is True
    assert len(cluster.applied) == 1 and sum(s.startswith("ALTER") for s in cluster.statements) == 3


def test_an_alter_whose_answer_was_lost_is_not_sent_again():
    cluster = FakeCluster()
    cluster.answers = [OutcomeUnknown(2013, "Lost connection to MySQL server during query")]
    changer(cluster).apply("db", "t", pending_until_applied(cluster))
    assert len(cluster.applied) == 1  # the job it had started was followed; the schema then had the column


def test_other_errors_are_raised_and_a_job_running_too_long_is_transient():
    cluster = FakeCluster()
    cluster.answers = [StarRocksSqlError(1064, "Unknown column type")]
    with pytest.raises(StarRocksSqlError, match="Unknown column type"):
        changer(cluster).apply("db", "t", pending_until_applied(cluster))
    slow = FakeCluster(polls=10**6)
    with pytest.raises(TransientError, match="still RUNNING.*does not send the change twice"):
        changer(slow, timeout=50).apply("db", "t", pending_until_applied(slow))
