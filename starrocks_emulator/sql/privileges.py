"""Account statements on the query port: CREATE USER, GRANT, SHOW GRANTS, and which privilege a statement needs.

Contract: `account_statement(sql)` recognises the StarRocks 3.x account statements sqlglot cannot parse and
returns a parsed form; `run_account_statement(engine, user, parsed)` executes it; `required_privileges(...)`
names the privilege each statement kind needs, as StarRocks 3.x documents it
(https://docs.starrocks.io/docs/administration/user_privs/privilege_item/): CREATE TABLE on the database,
INSERT / DELETE / SELECT / ALTER / DROP on the table (TRUNCATE needs DELETE). The check itself and the denial
message live in the engine (privileges_store.py), so the HTTP side answers the same way.

GRANT forms accepted (https://docs.starrocks.io/docs/sql-reference/sql-statements/account-management/GRANT/):
`GRANT p[, p] ON {db.* | db.tbl | TABLE db.tbl | ALL TABLES IN DATABASE db | ALL TABLES IN ALL DATABASES |
DATABASE db | ALL DATABASES | *.*} TO [USER] 'u'@'%'`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from starrocks_emulator.storage.catalog import EmulatorError

ROOT = "root"
_USER = r"(?P<user>'[^']*'(?:@'[^']*')?|`[^`]*`(?:@`[^`]*`)?|\"[^\"]*\"(?:@\"[^\"]*\")?|[\w.]+(?:@'[^']*')?)"
_CREATE_USER = re.compile(
    rf"^\s*CREATE\s+USER\s+(?P<ifnot>IF\s+NOT\s+EXISTS\s+)?{_USER}"
    r"(?:\s+IDENTIFIED\s+(?:WITH\s+\w+\s+)?(?:BY|AS)\s+(?:PASSWORD\s+)?'(?P<password>[^']*)')?",
    re.IGNORECASE | re.DOTALL,
)
_GRANT = re.compile(
    rf"^\s*GRANT\s+(?P<privs>.+?)\s+ON\s+(?P<object>.+?)\s+TO\s+(?:USER\s+)?{_USER}\s*;?\s*$",
    re.IGNORECASE | re.DOTALL,
)
_SHOW_GRANTS = re.compile(rf"^\s*SHOW\s+GRANTS(?:\s+FOR\s+{_USER})?\s*;?\s*$", re.IGNORECASE)


@dataclass
class AccountStatement:
    kind: str  # "CREATE USER" | "GRANT" | "SHOW GRANTS"
    user: str | None = None
    password: str = ""
    if_not_exists: bool = False
    privileges: tuple[str, ...] = ()
    db: str | None = None
    table: str | None = None


def user_name(identity: str) -> str:
    """`'u'@'%'` / `u` / `` `u` `` -> `u` (the emulator keys users by name; every host is '%')."""
    name = identity.split("@", 1)[0].strip()
    return name.strip("'\"`")


def _object(text: str) -> tuple[str | None, str | None]:
    """GRANT object -> (db, table); (None, None) means every database."""
    words = text.strip().rstrip(";").strip()
    upper = words.upper()
    if upper in ("*.*", "ALL DATABASES", "ALL TABLES IN ALL DATABASES", "SYSTEM"):
        return None, None
    match = re.match(r"^ALL\s+TABLES\s+IN\s+DATABASE\s+(\S+)$", words, re.IGNORECASE)
    if match:
        return match.group(1).strip("`"), None
    match = re.match(r"^DATABASE\s+(\S+)$", words, re.IGNORECASE)
    if match:
        return match.group(1).strip("`"), None
    match = re.match(r"^(?:TABLE\s+)?(\S+?)\.(\S+)$", words, re.IGNORECASE)
    if match:
        db, table = match.group(1).strip("`"), match.group(2).strip("`")
        return db, None if table == "*" else table
    raise EmulatorError(1064, f"Getting syntax error. Detail message: Unexpected input '{words}'.", "HY000")


def account_statement(sql: str) -> AccountStatement | None:
    """The account statement in `sql`, or None when `sql` is something else."""
    match = _CREATE_USER.match(sql)
    if match:
        return AccountStatement(
            "CREATE USER",
            user_name(match.group("user")),
            match.group("password") or "",
            bool(match.group("ifnot")),
        )
    match = _GRANT.match(sql)
    if match:
        privileges = tuple(p.strip().upper() for p in match.group("privs").split(",") if p.strip())
        privileges = tuple("ALL" if p == "ALL PRIVILEGES" else p for p in privileges)
        db, table = _object(match.group("object"))
        return AccountStatement(
            "GRANT", user_name(match.group("user")), privileges=privileges, db=db, table=table
        )
    match = _SHOW_GRANTS.match(sql)
    if match:
        return AccountStatement(
            "SHOW GRANTS", user_name(match.group("user")) if match.group("user") else None
        )
    return None


def _require_user_admin(user: str, operation: str) -> None:
    # Only root (role user_admin) manages users in the emulator; StarRocks 3.x answers with ERR_ACCESS_DENIED.
    if user != ROOT:
        raise EmulatorError(
            5203,
            "Access denied; you need (at least one of) the GRANT privilege(s) on SYSTEM for this operation. "
            "Please ask the admin to grant permission(s) or try activating existing roles using "
            "<set [default] role>. Current role(s): NULL. Inactivated role(s): NULL.",
            "42000",
        )


def _grant_text(privilege: str, db: str | None, table: str | None, identity: str) -> str:
    if db is None:
        target = "ALL TABLES IN ALL DATABASES"
    elif table is None:
        target = (
            f"ALL TABLES IN DATABASE {db}" if privilege not in ("CREATE TABLE", "DROP") else f"DATABASE {db}"
        )
    else:
        target = f"TABLE {db}.{table}"
    return f"GRANT {privilege} ON {target} TO USER {identity}"


def run_account_statement(
    engine: Any, user: str, statement: AccountStatement
) -> tuple[list[tuple], list[str]]:
    """Execute an account statement as `user`; returns (rows, column names) — empty for DDL."""
    if statement.kind == "CREATE USER":
        _require_user_admin(user, "CREATE USER")
        try:
            engine.create_user(statement.user, statement.password)
        except EmulatorError:
            if not statement.if_not_exists:
                raise
        return [], []
    if statement.kind == "GRANT":
        _require_user_admin(user, "GRANT")
        engine.grant(statement.user, list(statement.privileges), statement.db, statement.table)
        return [], []
    # SHOW GRANTS: columns UserIdentity, Catalog, Grants (SHOW_GRANTS.md, StarRocks 3.x).
    target = statement.user or user
    if target != user:
        _require_user_admin(user, "SHOW GRANTS")
    identity = f"'{target}'@'%'"
    if target == ROOT:
        return [(identity, None, f"GRANT root, cluster_admin TO USER {identity}")], [
            "UserIdentity",
            "Catalog",
            "Grants",
        ]
    _, rows = engine.query(
        "SELECT privilege, db, tbl FROM _emulator.grants WHERE user_name = ? ORDER BY db, tbl, privilege",
        [target],
    )
    grants = [(identity, "default_catalog", _grant_text(p, d, t, identity)) for p, d, t in rows]
    return grants, ["UserIdentity", "Catalog", "Grants"]
