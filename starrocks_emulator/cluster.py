"""One running emulator: the engine, the FE and BE HTTP ports, the query port, faults and counters.

`EmulatorServer.start()` binds every port and returns once they listen; `__main__.py` runs it until a signal
arrives. The FE port (StarRocks' `http_port`, 8030) redirects Stream Loads to the BE port (`be_http_port`,
8040); the query port (9030) is E2's MySQL front end (`mysql_frontend.serve_mysql`) on an asyncio loop of its
own thread. Faults that change the servers themselves (`be_down`) are carried out here.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import socket
import ssl
import tempfile
import threading
import time
from collections import Counter, OrderedDict
from typing import Any

from starrocks_emulator.be.rest import BEHandler
from starrocks_emulator.be.transactions import TransactionManager
from starrocks_emulator.faults import FaultBoard
from starrocks_emulator.fe.rest import FEHandler
from starrocks_emulator.rest_base import EmulatorHTTPServer
from starrocks_emulator.storage.engine import Engine
from starrocks_emulator.topology import single_node

log = logging.getLogger("starrocks_emulator")
ERROR_LOGS_KEPT = 500
# Request counters reported by GET /_emulator/stats, present (as 0) before the first request of their kind.
REQUEST_COUNTERS = (
    "fe_stream_load",
    "be_stream_load",
    "get_load_state",
    "fe_txn_load",
    "be_txn_load",
    "txn_begin",
    "txn_load",
    "txn_prepare",
    "txn_commit",
    "txn_rollback",
    "error_log",
    "faults",
    "stats",
)
EXPIRY_INTERVAL_S = 0.5


class ErrorLogStore:
    """Rejected rows per load, served at `/api/_load_error_log?file=NAME` (the load's ErrorURL)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._logs: OrderedDict[str, str] = OrderedDict()

    def put(self, name: str, lines: list[str]) -> None:
        with self._lock:
            self._logs[name] = "\n".join(lines) + "\n"
            while len(self._logs) > ERROR_LOGS_KEPT:
                self._logs.popitem(last=False)

    def get(self, name: str) -> str | None:
        with self._lock:
            return self._logs.get(name)


def dead_port(host: str) -> int:
    """A port on `host` that nothing listens on (bound, then closed)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


class EmulatorServer:
    def __init__(
        self,
        engine: Engine,
        host: str = "127.0.0.1",
        query_port: int = 0,
        http_port: int = 0,
        be_http_port: int = 0,
        tls_cert: str | None = None,
        tls_key: str | None = None,
    ) -> None:
        self.engine = engine
        self.host = host
        self.advertised_host = "127.0.0.1" if host in ("0.0.0.0", "") else host
        self.query_port, self.http_port, self.be_http_port = query_port, http_port, be_http_port
        self.tls = None
        if tls_cert and tls_key:
            self.tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self.tls.load_cert_chain(tls_cert, tls_key)
        self.scheme = "https" if self.tls else "http"
        self.faults = FaultBoard()
        self.error_logs = ErrorLogStore()
        self.spool_dir = tempfile.mkdtemp(
            prefix="sr_emulator_spool_", dir="/dev/shm" if os.path.isdir("/dev/shm") else None
        )
        self.txns = TransactionManager(engine, self.spool_dir)
        self._counts: Counter[str] = Counter(dict.fromkeys(REQUEST_COUNTERS, 0))
        self._counts_lock = threading.Lock()
        self._stop = threading.Event()
        self._fe: EmulatorHTTPServer | None = None
        self._be: EmulatorHTTPServer | None = None
        self._be_lock = threading.Lock()
        self._be_back_at: float | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._mysql: Any = None
        self.dead_be_port: int | None = None

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        self._fe = self._serve(FEHandler, self.http_port, "FE")
        self.http_port = self._fe.server_address[1]
        self._be = self._serve(BEHandler, self.be_http_port, "BE")
        self.be_http_port = self._be.server_address[1]
        self._start_query_port()
        self.engine.topology = single_node(
            self.advertised_host, self.http_port, self.query_port, self.be_http_port
        )
        threading.Thread(target=self._housekeeping, name="txn-expiry", daemon=True).start()
        log.info(
            "FE http %s://%s:%d, BE http :%d, query port :%d",
            self.scheme,
            self.host,
            self.http_port,
            self.be_http_port,
            self.query_port,
        )

    def _serve(self, handler: type, port: int, role: str) -> EmulatorHTTPServer:
        server = EmulatorHTTPServer((self.host, port), handler, self, role)
        if self.tls is not None:
            server.socket = self.tls.wrap_socket(
                server.socket, server_side=True, do_handshake_on_connect=False
            )
        threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.1}, name=f"{role}-http", daemon=True
        ).start()
        return server

    def _start_query_port(self) -> None:
        from starrocks_emulator.sql.mysql_frontend import serve_mysql

        self._loop = asyncio.new_event_loop()
        threading.Thread(target=self._loop.run_forever, name="query-port", daemon=True).start()
        future = asyncio.run_coroutine_threadsafe(
            serve_mysql(self.engine, self.host, self.query_port, self.tls, be_host=self.advertised_host),
            self._loop,
        )
        self._mysql = future.result(timeout=30)
        sockets = getattr(getattr(self._mysql, "_server", None), "sockets", None) or []
        if not self.query_port and sockets:
            self.query_port = sockets[0].getsockname()[1]

    def stop(self) -> None:
        self._stop.set()
        for server in (self._fe, self._be):
            if server is not None:
                server.shutdown()
                server.server_close()
        if self._loop is not None and self._mysql is not None:

            async def close() -> None:
                self._mysql.close()
                await self._mysql.wait_closed()

            try:
                asyncio.run_coroutine_threadsafe(close(), self._loop).result(timeout=5)
            except Exception:  # noqa: BLE001 - shutting down anyway
                log.debug("query port did not close cleanly")
            self._loop.call_soon_threadsafe(self._loop.stop)
        shutil.rmtree(self.spool_dir, ignore_errors=True)
        self.engine.close()

    def _housekeeping(self) -> None:
        while not self._stop.wait(EXPIRY_INTERVAL_S):
            try:
                for label in self.txns.expire():
                    log.info("transaction %s aborted by timeout", label)
                if self._be_back_at is not None and time.monotonic() >= self._be_back_at:
                    self.be_up()
            except Exception:  # noqa: BLE001 - keep the housekeeper alive; the engine may be closing
                log.exception("housekeeping failed")

    # ------------------------------------------------------------------ faults acting on the servers
    def set_fault(self, name: str, **params: Any) -> dict:
        fault = self.faults.set(name, **params)
        if name == "be_down":
            self.be_down(float(params["seconds"]))
        if name == "fe_redirect_dead_be":
            self.dead_be_port = dead_port(self.advertised_host)
        return fault.describe()

    def clear_faults(self, name: str | None = None) -> None:
        self.faults.clear(name)
        if name in (None, "be_down"):
            self.be_up()

    def be_down(self, seconds: float) -> None:
        """Close the BE listening socket: connections are refused until `seconds` pass or faults are cleared."""
        with self._be_lock:
            self._be_back_at = time.monotonic() + seconds
            if self._be is not None:
                self._be.shutdown()
                self._be.server_close()
                self._be = None
                log.info("BE port %d down for %.1fs", self.be_http_port, seconds)

    def be_up(self) -> None:
        with self._be_lock:
            self._be_back_at = None
            if self._be is None:
                self._be = self._serve(BEHandler, self.be_http_port, "BE")
                log.info("BE port %d back up", self.be_http_port)

    # ------------------------------------------------------------------ observability
    def count(self, name: str) -> None:
        with self._counts_lock:
            self._counts[name] += 1

    def stats(self) -> dict:
        stats = self.engine.stats()
        with self._counts_lock:
            stats["requests"] = dict(self._counts)
        stats["faults"] = self.faults.snapshot()
        return stats
