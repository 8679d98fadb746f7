"""Where the query-port tests (integration_tests/test_emulator_sql_*.py) send their SQL.

Contract: `sql_target(request)` is a context manager yielding an object with `.host .query_port .user .password
.emulator .connect(database=None)`:
- a real StarRocks when STARROCKS_HOST is set (STARROCKS_QUERY_PORT, STARROCKS_USER, STARROCKS_PASSWORD), so the
  same tests prove the emulator answers like StarRocks;
- else the `starrocks` fixture of integration_tests/conftest.py when it exists (the emulator as a subprocess);
- else an in-process emulator: an `Engine` in memory and the query port on a thread (`QueryPortThread`).
`.emulator` is None against a real StarRocks; tests that need the emulator's internals skip then.
`target_fixture` / `database_fixture` (the bodies of the modules' `sr` and `db` fixtures), `run` and
`scratch_database` serve every test_emulator_sql_* module.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pymysql
import pytest


@dataclass
class SqlTarget:
    host: str
    query_port: int
    user: str
    password: str
    emulator: Any = None

    def connect(self, database: str | None = None, **kwargs: Any) -> pymysql.connections.Connection:
        params: dict[str, Any] = {"user": self.user, "password": self.password, "autocommit": True}
        params.update(kwargs)
        return pymysql.connect(host=self.host, port=self.query_port, database=database, **params)


def unique_name(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


@contextlib.contextmanager
def sql_target(request: Any) -> Iterator[SqlTarget]:
    if os.environ.get("STARROCKS_HOST"):
        yield SqlTarget(
            os.environ["STARROCKS_HOST"],
            int(os.environ.get("STARROCKS_QUERY_PORT", "9030")),
            os.environ.get("STARROCKS_USER", "root"),
            os.environ.get("STARROCKS_PASSWORD", ""),
        )
        return
    try:
        shared = request.getfixturevalue("starrocks")
    except Exception:  # noqa: BLE001 - no conftest fixture yet: run the query port in-process
        shared = None
    if shared is not None:
        yield SqlTarget(
            shared.host, shared.query_port, shared.user, shared.password, shared.emulator or shared
        )
        return
    from starrocks_emulator.sql.mysql_frontend import QueryPortThread
    from starrocks_emulator.storage.engine import Engine

    engine = Engine(None, root_password="")
    port = QueryPortThread(engine).start()
    try:
        yield SqlTarget("127.0.0.1", port.port, "root", "", engine)
    finally:
        port.stop()
        engine.close()


def run(target: Any, db: str | None, *statements: str, dicts: bool = False) -> list:
    """Execute `statements` in `db` on one connection; the rows of the last one (dicts with `dicts`)."""
    cursor = pymysql.cursors.DictCursor if dicts else pymysql.cursors.Cursor
    with target.connect(db, cursorclass=cursor) as conn, conn.cursor() as cur:
        for sql in statements:
            cur.execute(sql)
        return list(cur.fetchall())


@contextlib.contextmanager
def scratch_database(target: Any, prefix: str) -> Iterator[str]:
    """A new database for one test, dropped (FORCE) afterwards."""
    name = unique_name(prefix)
    run(target, None, f"CREATE DATABASE `{name}`")
    try:
        yield name
    finally:
        run(target, None, f"DROP DATABASE IF EXISTS `{name}` FORCE")


def target_fixture(request: pytest.FixtureRequest) -> Iterator[SqlTarget]:
    """Body of the modules' `sr` fixture: `sr = pytest.fixture(scope="module", name="sr")(target_fixture)`."""
    with sql_target(request) as target:
        yield target


def database_fixture(sr: SqlTarget, request: pytest.FixtureRequest) -> Iterator[str]:
    """Body of the modules' `db` fixture (a scratch database per test): `db = pytest.fixture(name="db")(...)`."""
    with scratch_database(sr, request.module.__name__.rsplit("_", 1)[-1]) as name:
        yield name
