"""Runs the real connector entrypoint (`destination-starrocks write|check`) as Airbyte would, for tests.

Builds the config and configured-catalog files, pipes messages to stdin, and splits stdout into the Airbyte
messages it printed. Shared by the write-path, sync-mode, fault-matrix and chaos tests.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

ENTRYPOINT = [sys.executable, "-m", "destination_starrocks"]


@dataclass
class ConnectorRun:
    returncode: int
    messages: list[dict[str, Any]]
    stderr: str
    stdout: str = field(repr=False)

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [m for m in self.messages if m.get("type") == kind]

    @property
    def states(self) -> list[dict[str, Any]]:
        return [m["state"] for m in self.of_type("STATE")]

    @property
    def errors(self) -> list[dict[str, Any]]:
        return [m["trace"]["error"] for m in self.of_type("TRACE") if m["trace"].get("type") == "ERROR"]

    @property
    def logs(self) -> list[str]:
        return [m["log"]["message"] for m in self.of_type("LOG")]


def credentials(target: Any) -> tuple[str, str]:
    """(user, password) of a `starrocks` fixture target or an EmulatorProcess (root)."""
    user = getattr(target, "user", None) or "root"
    password = getattr(target, "password", None)
    if password is None:
        password = getattr(target, "root_password", "") or ""
    return user, password


def connect(target: Any, database: str | None = None):  # noqa: ANN201 - a pymysql connection
    import pymysql

    user, password = credentials(target)
    return pymysql.connect(
        host=target.host,
        port=target.query_port,
        user=user,
        password=password,
        database=database,
        autocommit=True,
    )


@contextmanager
def row_counts(target: Any, table: str) -> Iterator[list[int]]:
    """`SELECT COUNT(*) FROM table` in a loop on its own connection while the block runs: what readers see."""
    counts: list[int] = []
    stop = threading.Event()

    def watch() -> None:
        with connect(target) as conn, conn.cursor() as cursor:
            while not stop.is_set():
                cursor.execute(f"SELECT COUNT(*) FROM {table}")
                counts.append(cursor.fetchone()[0])

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        yield counts
    finally:
        stop.set()
        watcher.join(10)


def config_for(starrocks: Any, **overrides: Any) -> dict[str, Any]:
    """A connector config pointing at the test's StarRocks (the emulator or a real one)."""
    user, password = credentials(starrocks)
    config = {
        "host": starrocks.host,
        "query_port": starrocks.query_port,
        "http_port": starrocks.http_port,
        "username": user,
        "password": password,
        "database": "airbyte",
        "table_properties": {"replication_num": "1"},
    }
    config.update(overrides)
    return config


def stream(
    name: str,
    properties: dict[str, Any] | None = None,
    mode: str = "append",
    namespace: str | None = None,
    primary_key: list[list[str]] | None = None,
    cursor: list[str] | None = None,
    generation_id: int = 0,
    minimum_generation_id: int = 0,
    sync_id: int = 1,
) -> dict[str, Any]:
    properties = (
        properties if properties is not None else {"id": {"type": "integer"}, "name": {"type": "string"}}
    )
    entry: dict[str, Any] = {
        "stream": {
            "name": name,
            "json_schema": {"type": "object", "properties": properties},
            "supported_sync_modes": ["full_refresh", "incremental"],
        },
        "sync_mode": "incremental" if mode != "overwrite" else "full_refresh",
        "destination_sync_mode": mode,
        "generation_id": generation_id,
        "minimum_generation_id": minimum_generation_id,
        "sync_id": sync_id,
    }
    if namespace is not None:
        entry["stream"]["namespace"] = namespace
    if primary_key is not None:
        entry["primary_key"] = primary_key
    if cursor is not None:
        entry["cursor_field"] = cursor
    return entry


def catalog(*streams: dict[str, Any]) -> dict[str, Any]:
    return {"streams": list(streams)}


def record(
    name: str, data: dict[str, Any], namespace: str | None = None, emitted_at: int = 1_700_000_000_000
) -> bytes:
    payload: dict[str, Any] = {"stream": name, "data": data, "emitted_at": emitted_at}
    if namespace is not None:
        payload["namespace"] = namespace
    return orjson.dumps({"type": "RECORD", "record": payload})


def stream_state(name: str, value: Any, namespace: str | None = None) -> bytes:
    descriptor = {"name": name, "namespace": namespace}
    return orjson.dumps(
        {
            "type": "STATE",
            "state": {
                "type": "STREAM",
                "stream": {"stream_descriptor": descriptor, "stream_state": {"v": value}},
            },
        }
    )


def global_state(value: Any) -> bytes:
    return orjson.dumps(
        {"type": "STATE", "state": {"type": "GLOBAL", "global": {"shared_state": {"v": value}}}}
    )


def stream_status(name: str, status: str = "COMPLETE", namespace: str | None = None) -> bytes:
    descriptor = {"name": name, "namespace": namespace}
    return orjson.dumps(
        {
            "type": "TRACE",
            "trace": {
                "type": "STREAM_STATUS",
                "emitted_at": 0,
                "stream_status": {"stream_descriptor": descriptor, "status": status},
            },
        }
    )


def state_value(state: dict[str, Any]) -> Any:
    if state["type"] == "STREAM":
        return state["stream"]["stream_state"]["v"]
    if state["type"] == "GLOBAL":
        return state["global"]["shared_state"]["v"]
    return state.get("data")


def run_connector(
    command: str,
    config: dict[str, Any],
    catalog_: dict[str, Any] | None = None,
    lines: list[bytes] | bytes = b"",
    timeout: float = 300,
    env: dict[str, str] | None = None,
    end_status: str | None = "COMPLETE",
) -> ConnectorRun:
    """Run `write` or `check` through the console entrypoint's code path, in a child process.

    For `write`, the input ends with an `end_status` stream status for every catalog stream, as the platform
    ends a successful read and as the bulk CDK's test harness does by default (`IntegrationTest.runSync`,
    airbyte-cdk/bulk/core/load/src/testFixtures/.../test/util/IntegrationTest.kt); `end_status=None` ends it
    without any (a source that failed, or a caller that sends no statuses)."""
    with tempfile.TemporaryDirectory() as tmp:
        config_path = Path(tmp) / "config.json"
        config_path.write_bytes(orjson.dumps(config))
        args = [*ENTRYPOINT, command, "--config", str(config_path)]
        if catalog_ is not None:
            catalog_path = Path(tmp) / "catalog.json"
            catalog_path.write_bytes(orjson.dumps(catalog_))
            args += ["--catalog", str(catalog_path)]
        stdin = lines if isinstance(lines, bytes) else b"\n".join(lines) + (b"\n" if lines else b"")
        if command == "write" and catalog_ is not None and end_status is not None:
            stdin += b"" if not stdin or stdin.endswith(b"\n") else b"\n"
            for entry in catalog_.get("streams", []):
                described = entry.get("stream", {})
                stdin += (
                    stream_status(described.get("name", ""), end_status, described.get("namespace")) + b"\n"
                )
        completed = subprocess.run(
            args, input=stdin, capture_output=True, timeout=timeout, env={**os.environ, **(env or {})}
        )
    stdout = completed.stdout.decode("utf-8", "replace")
    messages = []
    for line in stdout.splitlines():
        try:
            messages.append(orjson.loads(line))
        except orjson.JSONDecodeError:
            messages.append({"type": "_UNPARSED", "line": line})
    return ConnectorRun(completed.returncode, messages, completed.stderr.decode("utf-8", "replace"), stdout)
