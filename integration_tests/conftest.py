"""Fixtures for the integration tests: a StarRocks to talk to (the emulator, or a real one), fresh emulators
for fault tests, unique database names.

- `starrocks` (session): a real StarRocks when STARROCKS_HOST is set (STARROCKS_QUERY_PORT 9030,
  STARROCKS_HTTP_PORT 8030, STARROCKS_USER root, STARROCKS_PASSWORD ""; the FE named there should be the
  leader), else one emulator process for the whole session shaped like a small real cluster: a leader FE, a
  follower FE and two BEs (`CLUSTER_SHAPE`). Yields a `StarRocksTarget`: `.host .query_port .http_port .user
  .password .emulator` (`EmulatorProcess`, or None against a real StarRocks), `.connect(database=None)` ->
  pymysql connection, `.http` -> `StreamLoadClient` (curl --location-trusted-like), `.follower` -> the same
  cluster seen through a follower FE (a `StarRocksTarget`, or None).
- `follower` (session): `starrocks.follower`; against a real StarRocks set STARROCKS_FOLLOWER_HOST (and
  STARROCKS_FOLLOWER_QUERY_PORT / STARROCKS_FOLLOWER_HTTP_PORT), else the tests that need it are skipped.
- `follower_config`: a connector config (integration_tests/connector.py `config_for`) pointing at the follower.
- `emulator` (function): a fresh single-node `EmulatorProcess` of its own (fault tests always use the
  emulator); `cluster` (function): a fresh emulator of `CLUSTER_SHAPE`.
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

from integration_tests.connector import config_for  # noqa: E402
from starrocks_emulator.http_client import StreamLoadClient  # noqa: E402
from starrocks_emulator.process import EmulatorProcess, _stop_all  # noqa: E402

CLUSTER_SHAPE = {"frontends": 2, "backends": 2}


@dataclass
class StarRocksTarget:
    host: str
    query_port: int
    http_port: int
    user: str
    password: str
    emulator: EmulatorProcess | None = None
    scheme: str = "http"
    follower: StarRocksTarget | None = None
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
    """The emulator through its leader FE, with `.follower` the same through its first follower (if any)."""
    follower = None
    if len(emulator.frontends) > 1:
        node = emulator.follower
        follower = StarRocksTarget(
            node.host,
            node.query_port,
            node.http_port,
            user,
            emulator.root_password,
            emulator,
            emulator.scheme,
        )
    return StarRocksTarget(
        emulator.host,
        emulator.query_port,
        emulator.http_port,
        user,
        emulator.root_password,
        emulator,
        emulator.scheme,
        follower,
    )


def _real_starrocks() -> StarRocksTarget:
    user, password = os.environ.get("STARROCKS_USER", "root"), os.environ.get("STARROCKS_PASSWORD", "")
    follower = None
    if os.environ.get("STARROCKS_FOLLOWER_HOST"):
        follower = StarRocksTarget(
            os.environ["STARROCKS_FOLLOWER_HOST"],
            int(os.environ.get("STARROCKS_FOLLOWER_QUERY_PORT", "9030")),
            int(os.environ.get("STARROCKS_FOLLOWER_HTTP_PORT", "8030")),
            user,
            password,
        )
    return StarRocksTarget(
        os.environ["STARROCKS_HOST"],
        int(os.environ.get("STARROCKS_QUERY_PORT", "9030")),
        int(os.environ.get("STARROCKS_HTTP_PORT", "8030")),
        user,
        password,
        follower=follower,
    )


@pytest.fixture(scope="session")
def starrocks() -> Iterator[StarRocksTarget]:
    if os.environ.get("STARROCKS_HOST"):
        yield _real_starrocks()
        return
    emulator = EmulatorProcess(**CLUSTER_SHAPE).start()
    try:
        yield target_for(emulator)
    finally:
        emulator.stop()


@pytest.fixture(scope="session")
def follower(starrocks: StarRocksTarget) -> StarRocksTarget:
    if starrocks.follower is None:
        pytest.skip("needs a follower FE: set STARROCKS_FOLLOWER_HOST (and its ports) for a real StarRocks")
    return starrocks.follower


@pytest.fixture
def follower_config(follower: StarRocksTarget) -> dict[str, Any]:
    return config_for(follower)


@pytest.fixture
def emulator() -> Iterator[EmulatorProcess]:
    process = EmulatorProcess().start()
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture
def cluster() -> Iterator[EmulatorProcess]:
    process = EmulatorProcess(**CLUSTER_SHAPE).start()
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture
def fresh_database() -> str:
    return f"it_{uuid.uuid4().hex[:12]}"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "emulator_only: needs the emulator (faults, topology, versions); skipped on a real StarRocks",
    )


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("emulator_only") and os.environ.get("STARROCKS_HOST"):
        pytest.skip("emulator only: it controls the emulator (faults, topology or version)")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    _stop_all()  # no emulator child outlives the test session
