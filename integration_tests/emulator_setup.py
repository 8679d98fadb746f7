"""Set-up shared by the emulator's HTTP tests: a database with tables that lives for one test, and a fresh
emulator's `d.t` with a Stream Load client for it."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import pymysql

from starrocks_emulator.http_client import StreamLoadClient
from starrocks_emulator.process import EmulatorProcess

DEFAULT_TABLE = (
    "CREATE TABLE `{db}`.`t` (id BIGINT NOT NULL) DUPLICATE KEY(id) DISTRIBUTED BY HASH(id) BUCKETS 2"
)


@contextlib.contextmanager
def created_database(target: Any, name: str, *statements: str) -> Iterator[str]:
    """CREATE DATABASE `name`, run `statements` (formatted with db=name), DROP it afterwards."""
    with target.connect() as conn, conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE `{name}`")
        for statement in statements:
            cur.execute(statement.format(db=name))
    try:
        yield name
    finally:
        with target.connect() as conn, conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{name}`")


def table_client(emu: EmulatorProcess, table: str = DEFAULT_TABLE) -> StreamLoadClient:
    """Create database `d` with `table` on a fresh emulator; a client for its leader FE (root)."""
    tls = {"check_hostname": False} if emu.tls_cert else None
    with pymysql.connect(
        host=emu.host, port=emu.query_port, user="root", password=emu.root_password, autocommit=True, ssl=tls
    ) as conn:
        with conn.cursor() as cur:
            cur.execute("CREATE DATABASE d")
            cur.execute(table.format(db="d"))
    return StreamLoadClient(emu.host, emu.http_port, "root", emu.root_password, emu.scheme)
