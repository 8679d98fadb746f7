"""The MySQL-protocol client: DDL and metadata over StarRocks' FE query port (9030).

StarRocks speaks the MySQL wire protocol, so pymysql works unchanged. Data never goes this way (one INSERT
per batch would still be a version per statement, and slow); it goes by Stream Load. Every statement here is
autocommit. The password is handed to pymysql and to nothing else: error messages are built from the server's
error code and text only, and the connection string is never formatted.

A connection that breaks while a statement runs leaves its outcome unknown. Reading statements and idempotent
DDL (`CREATE ... IF NOT EXISTS`, `DROP ... IF EXISTS`) are simply sent again on a new connection; a statement
that must not run twice (`ALTER TABLE ... ADD COLUMN`, `SWAP WITH`, `RENAME`, a table copy's `INSERT ...
SELECT`) is sent with `idempotent=False` and raises `OutcomeUnknown`, so its caller looks at the schema (or the
INSERT's label, table_copy.py `run_once`) before deciding anything.

Table copies run for as long as the table is large, so they get a connection of their own whose StarRocks
`query_timeout` (300 s by default; an INSERT obeys it before StarRocks 3.4 added `insert_timeout`, 4 hours
by default) and read timeout cover a day: `execute_copy(statement)` for one `INSERT ... SELECT` (never resent:
`OutcomeUnknown`), `stream(query)` for a result read row by row (pymysql's SSCursor: unbuffered, so memory
stays bounded whatever the table's size) by a rebuild the connector copies itself (surrogate_copy.py).
"""

from __future__ import annotations

import functools
import logging
import ssl
from collections.abc import Iterator, Sequence
from typing import Any

import pymysql

from destination_starrocks.errors import ConfigError, StarRocksSqlError
from destination_starrocks.naming import quote_identifier
from destination_starrocks.spec import StarRocksConfig

logger = logging.getLogger("airbyte")

CONNECT_TIMEOUT_SECONDS = 10
READ_TIMEOUT_SECONDS = 600
# A copy's statement runs as long as the table is large (a streamed one while the connector loads what it read),
# so StarRocks' query_timeout (session variable, 300 s by default, at most 259200) and the read timeout cover it.
COPY_TIMEOUT_SECONDS = 86400
STREAM_FETCH_ROWS = 1000
# MySQL client-side error codes pymysql raises for a host it cannot reach.
CANNOT_CONNECT = {2003, 2005, 2006, 2013}
ACCESS_DENIED = 1045


def tls_context(config: StarRocksConfig) -> ssl.SSLContext | None:
    """TLS for both the MySQL protocol and Stream Load; verifies certificates (and host names) by default."""
    return verifying_context(config) if config.ssl else None


def verifying_context(config: StarRocksConfig) -> ssl.SSLContext:
    """The TLS context that verifies against `ssl_ca_certificate` (or the system's CAs), `ssl` on or off."""
    return _verifying_context(config.ssl_ca_certificate.strip())


@functools.lru_cache(maxsize=4)
def _verifying_context(ca_certificate: str) -> ssl.SSLContext:
    # One context per CA for the whole process: loading the default CA store costs about 25 ms of start-up
    # each time, and a context is safe to share between connections and threads (it is not modified after).
    context = ssl.create_default_context()
    if ca_certificate:
        context.load_verify_locations(cadata=ca_certificate)
    return context


class OutcomeUnknown(StarRocksSqlError):
    """The connection broke while a non-idempotent statement ran: it may or may not have been applied."""


class SqlClient:
    """One autocommit pymysql connection, opened lazily, reopened once if the server dropped it."""

    def __init__(self, config: StarRocksConfig, database: str | None = None) -> None:
        self._config = config
        self._database = database
        self._conn: pymysql.connections.Connection | None = None

    @classmethod
    def from_config(cls, config: StarRocksConfig) -> SqlClient:
        return cls(config)

    def connect(self) -> pymysql.connections.Connection:
        if self._conn is not None and self._conn.open:
            return self._conn
        self._conn = self._open(READ_TIMEOUT_SECONDS)
        return self._conn

    def _open(self, read_timeout: int) -> pymysql.connections.Connection:
        config = self._config
        try:
            return pymysql.connect(
                host=config.host,
                port=config.query_port,
                user=config.username,
                password=config.password,
                database=self._database,
                charset="utf8mb4",
                autocommit=True,
                connect_timeout=CONNECT_TIMEOUT_SECONDS,
                read_timeout=read_timeout,
                write_timeout=READ_TIMEOUT_SECONDS,
                ssl=tls_context(config),
                # `ssl` off means plain text: without this PyMySQL (1.1+) still tries TLS when the server offers
                # it ("PREFERRED", a context that verifies nothing), and loads the CA store for each connection.
                ssl_disabled=not config.ssl,
            )
        except pymysql.err.OperationalError as exc:
            raise _connect_error(config, exc) from None

    def execute_copy(self, sql: str) -> int:
        """Run one long copy statement on a connection of its own (see the module docstring); its row count.
        A connection that breaks meanwhile raises OutcomeUnknown: the statement is never sent again here."""
        conn = self._open(COPY_TIMEOUT_SECONDS)
        try:
            with conn.cursor() as cursor:
                cursor.execute(f"SET query_timeout = {COPY_TIMEOUT_SECONDS}")
                return cursor.execute(sql)
        except pymysql.err.OperationalError as exc:
            code = exc.args[0] if exc.args else 0
            message = str(exc.args[1] if len(exc.args) > 1 else exc)
            raise (OutcomeUnknown if code in CANNOT_CONNECT else StarRocksSqlError)(code, message) from None
        except pymysql.err.MySQLError as exc:
            code = exc.args[0] if exc.args and isinstance(exc.args[0], int) else 0
            raise StarRocksSqlError(code, str(exc.args[1] if len(exc.args) > 1 else exc)) from None
        finally:
            _close_quietly(conn)

    def stream(self, sql: str, args: Sequence[Any] | None = None) -> Iterator[tuple]:
        """The rows of one query as the server sends them, never all in memory (see the module docstring).

        Not retried: a broken connection raises StarRocksSqlError mid-iteration. Leaving the loop early closes
        the connection without reading the rest (an SSCursor's close() would read every remaining row).
        """
        conn = self._open(COPY_TIMEOUT_SECONDS)
        cursor = conn.cursor(pymysql.cursors.SSCursor)
        try:
            cursor.execute(f"SET query_timeout = {COPY_TIMEOUT_SECONDS}")
            cursor.execute(sql, args)
            while True:
                rows = cursor.fetchmany(STREAM_FETCH_ROWS)
                if not rows:
                    return
                yield from rows
        except pymysql.err.MySQLError as exc:
            code = exc.args[0] if exc.args and isinstance(exc.args[0], int) else 0
            raise StarRocksSqlError(code, str(exc.args[1] if len(exc.args) > 1 else exc)) from None
        finally:
            _abandon(cursor)
            _close_quietly(conn)

    def execute(self, sql: str, args: Sequence[Any] | None = None, idempotent: bool = True) -> int:
        """Run one statement; returns the affected row count. See the module docstring for `idempotent`."""
        return self._run(sql, args, fetch=False, idempotent=idempotent)  # type: ignore[return-value]

    def query(self, sql: str, args: Sequence[Any] | None = None) -> list[tuple]:
        """Run one statement and return all its rows."""
        return self._run(sql, args, fetch=True)  # type: ignore[return-value]

    def query_named(self, sql: str, args: Sequence[Any] | None = None) -> list[dict[str, Any]]:
        """Run one statement; each row as {column name: value} (SHOW statements whose columns vary by version)."""
        return self._run(sql, args, fetch=True, named=True)  # type: ignore[return-value]

    def _run(
        self,
        sql: str,
        args: Sequence[Any] | None,
        fetch: bool,
        idempotent: bool = True,
        named: bool = False,
    ) -> int | list:
        for attempt in (1, 2):
            conn = self.connect()
            try:
                with conn.cursor() as cursor:
                    affected = cursor.execute(sql, args)
                    if not fetch:
                        return affected
                    rows = list(cursor.fetchall())
                    if named:
                        names = [d[0] for d in cursor.description or ()]
                        return [dict(zip(names, row, strict=False)) for row in rows]
                    return rows
            except pymysql.err.OperationalError as exc:
                code = exc.args[0] if exc.args else 0
                message = str(exc.args[1] if len(exc.args) > 1 else exc)
                if code in CANNOT_CONNECT:
                    self.close()
                    if not idempotent:
                        raise OutcomeUnknown(code, message) from None
                    if attempt == 1:
                        # The server closed an idle connection; reconnect once and run the statement again.
                        continue
                raise StarRocksSqlError(code, message) from None
            except pymysql.err.MySQLError as exc:
                code = exc.args[0] if exc.args and isinstance(exc.args[0], int) else 0
                raise StarRocksSqlError(code, str(exc.args[1] if len(exc.args) > 1 else exc)) from None
        raise AssertionError("unreachable")

    def ensure_database(self, database: str) -> bool:
        """Create `database` unless the user can already see it; True if it was created.

        StarRocks checks the CREATE DATABASE privilege before it looks at IF NOT EXISTS, so a user granted only
        on an existing database must not be asked to create it.
        """
        if database in {row[0] for row in self.query("SHOW DATABASES")}:
            return False
        self.execute(f"CREATE DATABASE IF NOT EXISTS {quote_identifier(database)}")
        return True

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except Exception:  # noqa: BLE001 - closing a dead connection must not mask the real error
                pass
            self._conn = None

    def __enter__(self) -> SqlClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _abandon(cursor: pymysql.cursors.SSCursor) -> None:
    """Forget an unbuffered result that may have unread rows. pymysql's SSCursor (`__del__ = close`) and its
    MySQLResult (`__del__`) would otherwise read every remaining row when collected, from a socket already
    closed; no public call skips that, so this clears the two attributes those finalizers test."""
    result = getattr(cursor, "_result", None)
    if result is not None:
        result.unbuffered_active = False
    cursor.connection = None


def _close_quietly(conn: pymysql.connections.Connection) -> None:
    try:
        conn.close()
    except Exception:  # noqa: BLE001 - a connection already broken, or with unread rows
        pass


def _connect_error(config: StarRocksConfig, exc: pymysql.err.OperationalError) -> ConfigError:
    code = exc.args[0] if exc.args else 0
    where = f"{config.host}:{config.query_port}"
    if code == ACCESS_DENIED:
        return ConfigError(
            f"StarRocks refused the user {config.username!r} at {where}: wrong user name or password (error 1045)."
        )
    if code in CANNOT_CONNECT:
        return ConfigError(
            f"Cannot reach the StarRocks FE query port at {where}: check `host` and `query_port` "
            f"(and that the FE is running and reachable from here). Driver said: {_first_line(exc)}"
        )
    return ConfigError(f"Cannot connect to StarRocks at {where}: {_first_line(exc)}")


def _first_line(exc: BaseException) -> str:
    text = str(exc.args[1]) if len(exc.args) > 1 else str(exc)
    return text.splitlines()[0] if text else type(exc).__name__
