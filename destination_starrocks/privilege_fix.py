"""Privilege refusals and the GRANT statements that fix them, in the words of the server's StarRocks release.

StarRocks refuses a statement the user may not run with an access-denied error that names the privilege:
1044/1142/1227 on older releases (MySQL's codes, "INSERT command denied to user ..."), 5203 from 3.x
(fe `ErrorCode.ERR_ACCESS_DENIED`: "Access denied; you need (at least one of) the INSERT privilege(s) on TABLE
t for this operation. Please ask the admin ..."). The fix is the GRANT of the setup guide: StarRocks 3.x's
privilege items (https://docs.starrocks.io/docs/administration/user_privs/privilege_item/), or 2.x's `*_PRIV`
names on `db.*` (https://docs.starrocks.io/docs/2.5/sql-reference/sql-statements/account-management/GRANT/).
From 3.0 a privilege granted through a role counts only while the role is active, so the fix says how to make
the user's roles active at login (SET DEFAULT ROLE, supported from 3.0).
"""

from __future__ import annotations

import re

from destination_starrocks.errors import StarRocksSqlError
from destination_starrocks.naming import quote_identifier
from destination_starrocks.server_info import ServerInfo

ACCESS_DENIED_CODES = (1044, 1142, 1227, 5203)
DATABASE_PRIVILEGES = ("CREATE TABLE",)  # granted ON DATABASE; the others ON ALL TABLES IN DATABASE
LEGACY_NAMES = {  # StarRocks 2.x
    "CREATE DATABASE": "CREATE_PRIV",
    "CREATE TABLE": "CREATE_PRIV",
    "INSERT": "LOAD_PRIV",
    "SELECT": "SELECT_PRIV",
    "ALTER": "ALTER_PRIV",
    "DROP": "DROP_PRIV",
}
# The advice StarRocks 3.x appends to every access-denied message (fe `AccessDeniedException`): the fix says more.
_GENERIC_ADVICE = re.compile(
    r"\.? Please ask the admin to grant permission\(s\).*?Inactivated role\(s\): [^.]*\."
)


def denied(exc: StarRocksSqlError) -> bool:
    """Is this StarRocks refusing a privilege (rather than the statement)?"""
    return exc.code in ACCESS_DENIED_CODES or "access denied" in exc.message.lower()


def refusal_text(exc: StarRocksSqlError | str) -> str:
    """StarRocks' refusal without the generic advice it appends (the check's fix is the specific one)."""
    text = exc.message if isinstance(exc, StarRocksSqlError) else exc
    return _GENERIC_ADVICE.sub("", text).rstrip(". ")


def grant_fix(privileges: list[str], database: str, identity: str, server: ServerInfo) -> str:
    """The GRANT statement(s), as an admin runs them, that give `identity` the `privileges` on `database`."""
    db = quote_identifier(database)
    if server.version is not None and server.version.major < 3:
        names = ", ".join(dict.fromkeys(LEGACY_NAMES[p] for p in privileges))
        return f"As an admin: GRANT {names} ON {db}.* TO {identity}"
    statements = []
    if "CREATE DATABASE" in privileges:
        statements.append(f"GRANT CREATE DATABASE ON CATALOG default_catalog TO USER {identity}")
    on_database = [p for p in privileges if p in DATABASE_PRIVILEGES]
    if on_database:
        statements.append(f"GRANT {', '.join(on_database)} ON DATABASE {db} TO USER {identity}")
    on_tables = [p for p in privileges if p not in DATABASE_PRIVILEGES and p != "CREATE DATABASE"]
    if on_tables:
        statements.append(f"GRANT {', '.join(on_tables)} ON ALL TABLES IN DATABASE {db} TO USER {identity}")
    # A role's privileges count only while the role is active (GRANT docs, "SET ROLE").
    return (
        f"As an admin: {'; '.join(statements)}. If the user holds them through a role, make it active at "
        f"login: SET DEFAULT ROLE ALL TO {identity}"
    )
