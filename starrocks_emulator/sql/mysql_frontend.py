"""The emulator's query port: StarRocks' MySQL protocol front end on mysql-mimic.

Agreed entry point (E1's `__main__.py` starts it on the same event loop as the HTTP servers):

    server = await serve_mysql(engine, host, port, ssl_context=None)   # listening when it returns
    ...; server.close(); await server.wait_closed()

Authentication is mysql_native_password against the engine's users (StarRocks checks the scramble the same way:
fe MysqlPassword.checkScramble); a wrong password answers 1045 / 28000 "Access denied for user 'u' (using
password: YES)" (fe ErrorCode.ERR_AUTHENTICATION_FAIL, raised in fe authentication/*AuthenticationProvider.java).
TLS: pass an `ssl.SSLContext`; mysql-mimic then advertises CLIENT_SSL and upgrades on the client's SSLRequest.

Each statement runs in a worker thread (`asyncio.to_thread`) so a long DuckDB query never stalls the event loop
that also serves Stream Loads. Statement dispatch is in `statements.py`; this module owns the protocol: users,
variables, errors and result typing.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import decimal
import json
import logging
import re
import ssl
import threading
from typing import Any

import mysql_mimic.server
from mysql_mimic import MysqlServer, ResultColumn, Session
from mysql_mimic.auth import (
    AuthInfo,
    AuthState,
    Forbidden,
    IdentityProvider,
    NativePasswordAuthPlugin,
    Success,
    User,
)
from mysql_mimic.errors import SQLSTATES, MysqlError
from mysql_mimic.stream import MysqlStream
from mysql_mimic.types import ColumnType
from mysql_mimic.variables import SYSTEM_VARIABLES, GlobalVariables, SessionVariables, VariableSchema

from starrocks_emulator.sql.information_schema import InformationSchema
from starrocks_emulator.sql.statements import StatementRunner
from starrocks_emulator.storage.catalog import EmulatorError
from starrocks_emulator.version import MYSQL_SERVER_VERSION, version_comment

log = logging.getLogger("starrocks_emulator.mysql")

_EXTRA_VARIABLES: dict[str, VariableSchema] = {
    "version": (str, MYSQL_SERVER_VERSION, False),
    "sql_mode": (str, "ONLY_FULL_GROUP_BY", True),
    "query_timeout": (int, 300, True),
    "insert_timeout": (int, 14400, True),
    "tx_isolation": (str, "REPEATABLE-READ", True),
    "transaction_isolation": (str, "REPEATABLE-READ", True),
    "language": (str, "/starrocks/share/english/", False),
    "default_storage_engine": (str, "olap", True),
    "default_tmp_storage_engine": (str, "olap", True),
    "license": (str, "Apache License 2.0", False),
    "lower_case_table_names": (int, 0, False),
    "character_set_server": (str, "utf8", True),
    "collation_server": (str, "utf8_general_ci", True),
    "enable_profile": (bool, False, True),
    "pipeline_dop": (int, 0, True),
    "new_planner_optimize_timeout": (int, 3000, True),
}
STARROCKS_VARIABLES = {**SYSTEM_VARIABLES, **_EXTRA_VARIABLES}
_PASSWORD_IN_SQL = re.compile(
    r"(IDENTIFIED\s+(?:WITH\s+\w+\s+)?(?:BY|AS)\s+(?:PASSWORD\s+)?)'[^']*'", re.IGNORECASE
)


class TlsSafeStream:
    """mysql-mimic's stream (wrapped: it is a compiled class) whose TLS upgrade keeps the bytes the client sent
    right after its SSLRequest.

    A MySQL client starts the TLS handshake without waiting for an answer to SSLRequest, so its ClientHello is often
    already in the StreamReader's buffer when the upgrade starts; asyncio's `loop.start_tls` never sees those bytes
    and the handshake stalls. Here the buffered bytes are handed to the TLS protocol once it is attached.
    """

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._stream = MysqlStream(reader, writer)
        self.reader, self.writer = reader, writer

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)

    async def start_tls(self, ssl: ssl.SSLContext) -> None:
        from asyncio import sslproto

        loop = asyncio.get_running_loop()
        transport = self.writer.transport
        leftover = bytes(self.reader._buffer)  # type: ignore[attr-defined]
        self.reader._buffer.clear()  # type: ignore[attr-defined]
        waiter = loop.create_future()
        tls = sslproto.SSLProtocol(
            loop, transport.get_protocol(), ssl, waiter, server_side=True, call_connection_made=False
        )
        transport.pause_reading()
        transport.set_protocol(tls)
        loop.call_soon(tls.connection_made, transport)
        if leftover:
            loop.call_soon(self._feed, tls, leftover)
        loop.call_soon(transport.resume_reading)
        await waiter
        self.writer._transport = tls._app_transport  # type: ignore[attr-defined]
        self.reader._transport = tls._app_transport  # type: ignore[attr-defined]

    @staticmethod
    def _feed(tls: Any, data: bytes) -> None:
        buffer = tls.get_buffer(len(data))
        size = min(len(buffer), len(data))
        buffer[:size] = data[:size]
        tls.buffer_updated(size)
        if size < len(data):
            TlsSafeStream._feed(tls, data[size:])


# MysqlServer builds its streams by this name; every connection of the emulator uses the TLS-safe stream.
mysql_mimic.server.MysqlStream = TlsSafeStream  # type: ignore[misc]


class StarRocksVariables(SessionVariables):
    """Session variables; like StarRocks' many session variables, any name may be SET (stored as given)."""

    def get_schema(self, name: str) -> VariableSchema:
        return self.schema.get(name) or (lambda v: v, None, True)


def _access_denied(user: str, used_password: bool) -> Forbidden:
    return Forbidden(f"Access denied for user '{user}' (using password: {'YES' if used_password else 'NO'})")


class StarRocksNativePassword(NativePasswordAuthPlugin):
    """mysql_native_password whose refusal carries StarRocks' 1045 message."""

    async def auth(self, auth_info: AuthInfo | None = None) -> AuthState:
        inner = super().auth(auth_info)
        decision = await inner.__anext__()
        info = auth_info
        while True:
            if isinstance(decision, Forbidden):
                name = info.username if info else ""
                yield _access_denied(name, bool(info and info.data))
                return
            if isinstance(decision, Success):
                yield decision
                return
            info = yield decision
            decision = await inner.asend(info)


class StarRocksIdentityProvider(IdentityProvider):
    """Users come from the engine; an unknown user fails like a wrong password (StarRocks answers 1045 too)."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine

    def get_plugins(self) -> list[StarRocksNativePassword]:
        return [StarRocksNativePassword()]

    def _password(self, username: str) -> str | None:
        with self.engine.lock:
            return self.engine.privileges.password(username)

    async def get_user(self, username: str) -> User | None:
        password = await asyncio.to_thread(self._password, username)
        if password is None:
            auth_string: str | None = "no such user"  # never matches a scramble
        elif password == "":
            auth_string = None
        else:
            auth_string = NativePasswordAuthPlugin.create_auth_string(password)
        return User(name=username, auth_string=auth_string, auth_plugin=NativePasswordAuthPlugin.name)


def _wire_value(value: Any) -> Any:
    """DuckDB values StarRocks would send as text: arrays/maps as JSON, UUIDs as strings."""
    if isinstance(value, (list, dict)):
        return json.dumps(value, default=str, separators=(",", ":"))
    if value is None or isinstance(value, (str, int, float, bool, decimal.Decimal, dt.date, bytes)):
        return value
    return str(value)


def _column_type(value: Any) -> ColumnType:
    if isinstance(value, bool):
        return ColumnType.TINY
    if isinstance(value, int):
        return ColumnType.LONGLONG
    if isinstance(value, float):
        return ColumnType.DOUBLE
    if isinstance(value, decimal.Decimal):
        return ColumnType.NEWDECIMAL
    if isinstance(value, dt.datetime):
        return ColumnType.DATETIME
    if isinstance(value, dt.date):
        return ColumnType.DATE
    if isinstance(value, bytes):
        return ColumnType.BLOB
    return ColumnType.STRING


def result_set(names: list[str], rows: list[tuple]) -> tuple[list[tuple], list[ResultColumn]]:
    """Rows and typed columns: the MySQL type of a column follows its first non-NULL value."""
    wire_rows = [tuple(_wire_value(v) for v in row) for row in rows]
    columns = []
    for i, name in enumerate(names):
        sample = next((r[i] for r in wire_rows if r[i] is not None), "")
        kind = _column_type(sample)
        encoder = (lambda col, val: str(val).encode(col.codec)) if kind == ColumnType.NEWDECIMAL else None
        columns.append(ResultColumn(name=name, type=kind, text_encoder=encoder))
    return wire_rows, columns


class StarRocksSession(Session):
    """One client connection: current database, user, variables; statements go to `StatementRunner`."""

    def __init__(self, engine: Any, info: InformationSchema, be_host: str) -> None:
        schema = {**STARROCKS_VARIABLES, "version_comment": (str, version_comment(), False)}  # version.py
        super().__init__(variables=StarRocksVariables(GlobalVariables(schema)))
        self.runner = StatementRunner(engine, info, self, be_host)
        self._affected_rows: int | None = None

    async def init(self, connection: Any) -> None:
        await super().init(connection)
        plain_ok = connection.ok

        def ok_with_affected_rows(**kwargs: Any) -> bytes:
            # mysql-mimic's COM_QUERY OK packet carries no row count; DML reports it like StarRocks does.
            if self._affected_rows is not None and "affected_rows" not in kwargs:
                kwargs["affected_rows"] = self._affected_rows
                self._affected_rows = None
            return plain_ok(**kwargs)

        connection.ok = ok_with_affected_rows

    async def use(self, database: str) -> None:
        await asyncio.to_thread(self.runner.use, database)

    async def handle_query(self, sql: str, attrs: dict[str, str]) -> Any:
        self._affected_rows = None
        log.info(
            "query user=%s db=%s sql=%s",
            self.username,
            self.database,
            _PASSWORD_IN_SQL.sub(r"\1'***'", sql)[:300],
        )
        try:
            outcome = await asyncio.to_thread(self.runner.execute, sql)
        except EmulatorError as err:
            # mysql-mimic looks SQLSTATE up by code; teach it StarRocks' (e.g. 5502 -> 42602).
            SQLSTATES[err.code] = err.sqlstate.encode()  # type: ignore[index]
            raise MysqlError(err.message, err.code) from err  # type: ignore[arg-type]
        if outcome is None:
            return None
        if isinstance(outcome, int):
            self._affected_rows = outcome
            return None
        names, rows = outcome
        if not names:
            return None
        return result_set(names, rows)


async def serve_mysql(
    engine: Any, host: str, port: int, ssl_context: ssl.SSLContext | None = None, be_host: str | None = None
) -> MysqlServer:
    """Start the MySQL-protocol port of the emulator on the running event loop; returns the listening server."""
    info = InformationSchema(engine)
    server = MysqlServer(
        session_factory=lambda: StarRocksSession(engine, info, be_host or host),
        identity_provider=StarRocksIdentityProvider(engine),
        ssl=ssl_context,
    )
    await server.start_server(host=host, port=port)
    log.info("query port listening on %s:%d%s", host, port, " (TLS)" if ssl_context else "")
    return server


class QueryPortThread:
    """The query port on an event loop of its own thread: for tests and for embedding without the CLI."""

    def __init__(
        self, engine: Any, host: str = "127.0.0.1", port: int = 0, ssl_context: ssl.SSLContext | None = None
    ) -> None:
        self.engine, self.host, self.port, self.ssl_context = engine, host, port, ssl_context
        self._loop = asyncio.new_event_loop()
        self._server: MysqlServer | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, name="query-port", daemon=True)

    def start(self) -> QueryPortThread:
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(
            serve_mysql(self.engine, self.host, self.port, self.ssl_context), self._loop
        )
        self._server = future.result(timeout=10)
        self.port = self._server.sockets()[0].getsockname()[1]
        return self

    def stop(self) -> None:
        async def close() -> None:
            if self._server is not None:
                self._server.close()
                await self._server.wait_closed()
            others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in others:  # open client connections
                task.cancel()
            await asyncio.gather(*others, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(close(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
