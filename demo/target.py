"""Where the demo loads: the bundled StarRocks emulator, or a real StarRocks named by environment variables.

Contract: `Target.from_environment()` reads STARROCKS_HOST (set → a real StarRocks; unset → start the emulator),
STARROCKS_QUERY_PORT (9030), STARROCKS_HTTP_PORT (8030), STARROCKS_USER (root), STARROCKS_PASSWORD (""), the
same variables as the integration tests. `start()` / `stop()` run the emulator when there is one.
`table_figures(database)` returns, per table: rows (`SELECT COUNT(*)`), loads committed and versions created
(the emulator's `/_emulator/stats`; on a real StarRocks `information_schema.loads` by label prefix and
`SHOW TABLET`'s VersionCount), so the report can set them against one INSERT per record.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pymysql

DEFAULT_QUERY_PORT = 9030
DEFAULT_HTTP_PORT = 8030


def quote_identifier(name: str) -> str:
    """A StarRocks identifier in backticks, backticks doubled."""
    return "`" + name.replace("`", "``") + "`"


@dataclass
class TableFigures:
    table: str
    rows: int
    loads: int | None  # committed loads (Stream Loads, transactions, INSERTs) into this table
    versions_created: int | None  # new data versions per tablet
    version_count: int | None  # versions a tablet holds now (compaction lowers it)


@dataclass
class Target:
    host: str
    query_port: int
    http_port: int
    user: str
    password: str
    emulator: Any = None  # starrocks_emulator.process.EmulatorProcess, when bundled
    real: bool = False
    notes: list[str] = field(default_factory=list)

    @classmethod
    def from_environment(cls) -> Target:
        host = os.environ.get("STARROCKS_HOST", "")
        if not host:
            return cls(host="", query_port=0, http_port=0, user="root", password="")
        return cls(
            host=host,
            query_port=int(os.environ.get("STARROCKS_QUERY_PORT", DEFAULT_QUERY_PORT)),
            http_port=int(os.environ.get("STARROCKS_HTTP_PORT", DEFAULT_HTTP_PORT)),
            user=os.environ.get("STARROCKS_USER", "root"),
            password=os.environ.get("STARROCKS_PASSWORD", ""),
            real=True,
        )

    def describe(self) -> str:
        where = f"{self.host}:{self.query_port} (MySQL protocol), :{self.http_port} (HTTP, Stream Load)"
        return f"real StarRocks at {where}" if self.real else f"bundled StarRocks emulator at {where}"

    def start(self, log_path: Path | None = None) -> None:
        if self.real:
            return
        try:
            from starrocks_emulator.process import EmulatorProcess
        except ImportError as exc:  # the emulator's process API has not landed in this checkout
            raise RuntimeError(
                "the bundled StarRocks emulator (starrocks_emulator/process.py) is not "
                f"available in this checkout ({exc}); set STARROCKS_HOST to use a real StarRocks"
            ) from exc
        self.emulator = EmulatorProcess(log_path=str(log_path) if log_path else None)
        self.emulator.start()
        self.host, self.query_port, self.http_port = (
            self.emulator.host,
            self.emulator.query_port,
            self.emulator.http_port,
        )

    def stop(self) -> None:
        if self.emulator is not None:
            self.emulator.stop()
            self.emulator = None

    def connect(self, database: str | None = None) -> pymysql.connections.Connection:
        return pymysql.connect(
            host=self.host, port=self.query_port, user=self.user, password=self.password,
            database=database, autocommit=True, connect_timeout=10, charset="utf8mb4",
        )  # fmt: skip

    def connector_config(
        self, database: str, label_prefix: str, replication_num: int | None
    ) -> dict[str, Any]:
        config: dict[str, Any] = {
            "host": self.host,
            "query_port": self.query_port,
            "http_port": self.http_port,
            "username": self.user,
            "password": self.password,
            "database": database,
            "label_prefix": label_prefix,
        }
        if replication_num is not None:
            config["table_properties"] = {"replication_num": str(replication_num)}
        return config

    def reset_database(self, database: str) -> None:
        """Drop and recreate the demo's own database, so the figures are this run's."""
        with self.connect() as connection, connection.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS {quote_identifier(database)}")
            cursor.execute(f"CREATE DATABASE {quote_identifier(database)}")

    def table_figures(self, database: str, label_prefix: str) -> list[TableFigures]:
        with self.connect() as connection, connection.cursor() as cursor:
            cursor.execute(f"SHOW TABLES FROM {quote_identifier(database)}")
            tables = sorted(row[0] for row in cursor.fetchall())
            figures = []
            for table in tables:
                cursor.execute(f"SELECT COUNT(*) FROM {quote_identifier(database)}.{quote_identifier(table)}")
                rows = int(cursor.fetchone()[0])
                if self.emulator is not None:
                    figures.append(self._emulator_figures(database, table, rows))
                else:
                    figures.append(self._real_figures(cursor, database, table, rows, label_prefix))
            return figures

    def _emulator_figures(self, database: str, table: str, rows: int) -> TableFigures:
        stats = self.emulator.stats().get("tables", {}).get(f"{database}.{table}", {})
        return TableFigures(
            table=table,
            rows=rows,
            loads=stats.get("loads"),
            versions_created=stats.get("versions_created"),
            version_count=stats.get("version_count"),
        )

    def _real_figures(
        self, cursor: Any, database: str, table: str, rows: int, label_prefix: str
    ) -> TableFigures:
        loads = version_count = None
        try:
            # information_schema.loads (StarRocks 3.1+): one row per load job, with its label.
            cursor.execute(
                "SELECT COUNT(*) FROM information_schema.loads "
                "WHERE DB_NAME = %s AND TABLE_NAME = %s AND STATE = 'FINISHED' AND LABEL LIKE %s",
                (database, table, label_prefix.replace("_", "\\_") + "%"),
            )
            loads = int(cursor.fetchone()[0])
        except pymysql.MySQLError as exc:
            self.notes.append(f"loads of {table}: information_schema.loads unavailable ({exc.args[-1]})")
        try:
            cursor.execute(f"SHOW TABLET FROM {quote_identifier(database)}.{quote_identifier(table)}")
            names = [column[0] for column in cursor.description]
            counts = [int(row[names.index("VersionCount")]) for row in cursor.fetchall()]
            version_count = max(counts) if counts else None
        except (pymysql.MySQLError, ValueError) as exc:
            self.notes.append(f"versions of {table}: SHOW TABLET unavailable ({exc})")
        # On a real StarRocks, every committed load into a fresh table adds one version per tablet.
        return TableFigures(
            table=table, rows=rows, loads=loads, versions_created=loads, version_count=version_count
        )
