"""Users and table/database privileges of the emulator (StarRocks 3.x `GRANT priv ON db.tbl TO USER`).

Enough of StarRocks' RBAC to test a user who may read but not create or load: `root` holds every privilege;
other users hold what was granted to them, globally (db None), on a database (table None) or on one table.
Denials answer StarRocks 3.x's message ("Access denied; you need (at least one of) the X privilege(s) on
TABLE t for this operation..."), fe `ErrorCode.ERR_ACCESS_DENIED` (5203 in 3.3+) — see
https://docs.starrocks.io/docs/administration/user_privs/privilege_overview/ and
fe/fe-core/src/main/java/com/starrocks/common/ErrorCode.java. Storage: `_emulator.users` / `_emulator.grants`.
"""

from __future__ import annotations

import duckdb

from starrocks_emulator.storage.catalog import EmulatorError
from starrocks_emulator.storage.ledger import SCHEMA

ROOT = "root"
ALL = "ALL"
# Privileges on a database (vs on a table) as StarRocks 3.x names their object type in the message.
_DATABASE_PRIVILEGES = {"CREATE TABLE", "CREATE VIEW", "CREATE DATABASE", "CREATE MATERIALIZED VIEW"}


class PrivilegeStore:
    """Users with passwords and their grants; the caller holds the engine lock."""

    def __init__(self, con: duckdb.DuckDBPyConnection, root_password: str) -> None:
        self.con = con
        con.execute(f"DELETE FROM {SCHEMA}.users WHERE name = ?", [ROOT])
        con.execute(f"INSERT INTO {SCHEMA}.users VALUES (?, ?)", [ROOT, root_password])

    def users(self) -> list[str]:
        return [r[0] for r in self.con.execute(f"SELECT name FROM {SCHEMA}.users ORDER BY name").fetchall()]

    def authenticate(self, user: str, password: str) -> bool:
        row = self.con.execute(f"SELECT password FROM {SCHEMA}.users WHERE name = ?", [user]).fetchone()
        return row is not None and row[0] == password

    def password(self, user: str) -> str | None:
        row = self.con.execute(f"SELECT password FROM {SCHEMA}.users WHERE name = ?", [user]).fetchone()
        return None if row is None else str(row[0])

    def create_user(self, user: str, password: str) -> None:
        if self.password(user) is not None:
            raise EmulatorError(1396, f"Operation CREATE USER failed for '{user}'@'%'")
        self.con.execute(f"INSERT INTO {SCHEMA}.users VALUES (?, ?)", [user, password])

    def grant(self, user: str, privileges: list[str], db: str | None, table: str | None) -> None:
        if self.password(user) is None:
            raise EmulatorError(1133, f"Can't find any matching row in the user table: '{user}'@'%'")
        for privilege in privileges:
            self.con.execute(
                f"INSERT INTO {SCHEMA}.grants VALUES (?, ?, ?, ?)", [user, privilege.upper(), db, table]
            )

    def has(self, user: str, privilege: str, db: str | None, table: str | None) -> bool:
        if user == ROOT:
            return True
        row = self.con.execute(
            f"SELECT count(*) FROM {SCHEMA}.grants WHERE user_name = ? AND privilege IN (?, ?) "
            "AND (db IS NULL OR db = ?) AND (tbl IS NULL OR tbl = ?)",
            [user, privilege.upper(), ALL, db, table],
        ).fetchone()
        return bool(row and row[0])

    def check(self, user: str, privilege: str, db: str, table: str | None) -> None:
        if self.has(user, privilege, db, table):
            return
        privilege = privilege.upper()
        if table is None or privilege in _DATABASE_PRIVILEGES:
            target = f"DATABASE {db}"
        else:
            target = f"TABLE {table}"
        raise EmulatorError(
            5203,
            f"Access denied; you need (at least one of) the {privilege} privilege(s) on {target} for this "
            "operation. Please ask the admin to grant permission(s) or try activating existing roles using "
            "<set [default] role>. Current role(s): NULL. Inactivated role(s): NULL.",
            "42000",
        )
