"""Fixtures for the integration tests: a StarRocks to talk to (the emulator, or a real one), fresh emulators
for fault tests, unique database names.

- `starrocks` (session): a real StarRocks when STARROCKS_HOST is set (STARROCKS_QUERY_PORT 9030,
  STARROCKS_HTTP_PORT 8030, STARROCKS_USER root, STARROCKS_PASSWORD ""), else one emulator process for the
  whole session. Yields a `StarRocksTarget`: `.host .query_port .http_port .user .password .emulator`
  (`EmulatorProcess`, or None against a real StarRocks), `.connect(database=None)` -> pymysql connection,
  `.http` -> `StreamLoadClient`.
- `emulator` (function): a fresh `EmulatorProcess` of its own (fault tests always use the emulator).
- `fresh_database`: a unique database name (not created).
Every emulator process started in the session is stopped when the session ends.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pymysql
import pytest

# `pytest` (not `python -m pytest`) does not put the project root on sys.path; the emulator package needs it.
_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from starrocks_emulator.http_client import StreamLoadClient  # noqa: E402
from starrocks_emulator.process import EmulatorProcess, _stop_all  # noqa: E402


@dataclass
class StarRocksTarget:
    host: str
    query_port: int
    http_port: int
    user: str
    password: str
    emulator: EmulatorProcess | None = None
    scheme: str = "http"
    http: StreamLoadClient = field(init=False)

    def __post_init__(self) -> None:
        self.http = StreamLoadClient(self.host, self.http_port, self.user, self.password, self.scheme)

    def connect(self, database: str | None = None, **kwargs: Any) -> pymysql.connections.Connection:
        params: dict[str, Any] = {
            "user": self.user,
            "password": self.password,
            "autocommit": True,
            "connect_timeout": 10,
        }
        params.update(kwargs)
        return pymysql.connect(host=self.host, port=self.query_port, database=database, **params)

    @property
    def is_emulator(self) -> bool:
        return self.emulator is not None


def target_for(emulator: EmulatorProcess, user: str = "root") -> StarRocksTarget:
    return StarRocksTarget(
        emulator.host,
        emulator.query_port,
        emulator.http_port,
        user,
        emulator.root_password,
        emulator,
        emulator.scheme,
    )


@pytest.fixture(scope="session")
def starrocks() -> Iterator[StarRocksTarget]:
    if os.environ.get("STARROCKS_HOST"):
        yield StarRocksTarget(
            os.environ["STARROCKS_HOST"],
            int(os.environ.get("STARROCKS_QUERY_PORT", "9030")),
            int(os.environ.get("STARROCKS_HTTP_PORT", "8030")),
            os.environ.get("STARROCKS_USER", "root"),
            os.environ.get("STARROCKS_PASSWORD", ""),
        )
        return
    emulator = EmulatorProcess().start()
    try:
        yield target_for(emulator)
    finally:
        emulator.stop()


@pytest.fixture
def emulator() -> Iterator[EmulatorProcess]:
    process = EmulatorProcess().start()
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture
def fresh_database() -> str:
    return f"it_{uuid.uuid4().hex[:12]}"


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    _stop_all()  # no emulator child outlives the test session
