"""The MySQL-protocol client re-sends a statement after a broken connection only when sending it twice is safe."""

from __future__ import annotations

import pymysql
import pytest

from destination_starrocks import sql as sql_module
from destination_starrocks.spec import StarRocksConfig
from destination_starrocks.sql import OutcomeUnknown, SqlClient

LOST = pymysql.err.OperationalError(2013, "Lost connection to MySQL server during query")


class FakeConnection:
    def __init__(self, log: list[str], failures: list[Exception]) -> None:
        self.log, self.failures, self.open = log, failures, True

    def cursor(self) -> FakeConnection:
        return self

    def __enter__(self) -> FakeConnection:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def execute(self, statement: str, args=None) -> int:  # noqa: ANN001
        self.log.append(statement)
        if self.failures:
            self.open = False
            raise self.failures.pop(0)
        return 1

    def fetchall(self) -> list[tuple]:
        return [("a", 1)]

    @property
    def description(self) -> list[tuple]:
        return [("Key",), ("Value",)]

    def close(self) -> None:
        self.open = False


@pytest.fixture
def client(monkeypatch):  # noqa: ANN001, ANN201
    log: list[str] = []
    failures: list[Exception] = []
    monkeypatch.setattr(sql_module.pymysql, "connect", lambda **kwargs: FakeConnection(log, failures))
    return SqlClient(StarRocksConfig(host="fe")), log, failures


def test_an_idempotent_statement_is_sent_again_on_a_new_connection(client):
    sql, log, failures = client
    failures.append(LOST)
    assert sql.execute("DROP TABLE IF EXISTS `d`.`t` FORCE") == 1
    assert log == ["DROP TABLE IF EXISTS `d`.`t` FORCE"] * 2


def test_a_statement_that_must_not_run_twice_raises_outcome_unknown_instead(client):
    # Before, an ALTER (or a SWAP, which a second run undoes) was sent again after a lost connection.
    sql, log, failures = client
    failures.append(LOST)
    with pytest.raises(OutcomeUnknown, match="2013"):
        sql.execute("ALTER TABLE `d`.`f` SWAP WITH `s`", idempotent=False)
    assert log == ["ALTER TABLE `d`.`f` SWAP WITH `s`"]


def test_query_named_returns_rows_by_column_name(client):
    sql, _, _ = client
    assert sql.query_named("ADMIN SHOW FRONTEND CONFIG LIKE 'x'") == [{"Key": "a", "Value": 1}]
