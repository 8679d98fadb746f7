"""table_swap.py: a RENAME whose connection broke is judged by which of the two tables exist afterwards."""

from __future__ import annotations

import pytest

from destination_starrocks.errors import TransientError
from destination_starrocks.sql import OutcomeUnknown
from destination_starrocks.table_swap import rename_table


class LostRename:
    """A SQL client whose RENAME loses its connection, after (`applied`) or before it took effect."""

    def __init__(self, applied: bool) -> None:
        self.tables = {"db": {"_airbyte_tmp_t"}}
        self.applied = applied
        self.queries: list[tuple[str, tuple]] = []

    def execute(self, sql: str, idempotent: bool = True) -> None:
        assert "RENAME" in sql and not idempotent
        if self.applied:
            self.tables["db"] = {"t"}
        raise OutcomeUnknown(2013, "Lost connection to MySQL server during query")

    def query(self, sql: str, args: tuple) -> list[tuple]:
        self.queries.append((sql, args))
        db, *names = args
        return [(name,) for name in names if name in self.tables[db]]


def test_a_rename_lost_after_it_happened_is_done():
    sql = LostRename(applied=True)
    rename_table(sql, "db", "_airbyte_tmp_t", "t")
    assert [args for _, args in sql.queries] == [("db", "_airbyte_tmp_t", "t")]


def test_a_rename_lost_before_it_happened_fails_the_sync_as_transient():
    with pytest.raises(TransientError, match="did not happen"):
        rename_table(LostRename(applied=False), "db", "_airbyte_tmp_t", "t")
