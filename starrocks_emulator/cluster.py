"""One running emulator: a StarRocks cluster in one process, its engine, faults and counters.

A cluster has one leader FE, `frontends - 1` follower FEs and `backends` BEs (fe `Frontend`, `Backend`;
`SHOW FRONTENDS` / `SHOW BACKENDS`), every node on ports of its own: an FE has an HTTP port (StarRocks
`http_port`, 8030) and a query port (`query_port`, 9030; the MySQL front end, sql/mysql_frontend.py), a BE an
HTTP port (`be_http_port`, 8040). All of them serve the one engine, as every FE of a real cluster serves the
same metadata. Routing between them is StarRocks': FEs 307 Stream Loads to BEs in turn, followers 307
get_load_state and the transaction interface to the leader, the leader 307s transaction begin/load/prepare to
the coordinator BE (fe/rest.py, fe/transactions_rest.py). `engine.topology` tells the SQL side which nodes
exist and which BEs are alive.

TLS (`tls_cert`/`tls_key`): FE HTTP and query ports speak TLS only; BE HTTP ports stay plain, because an FE's
307 always names `http://` (fe `RestBaseAction.redirectTo`), so a real cluster with HTTPS on its FEs still
sends Stream Load bodies to BEs in clear text. To let a client make that hop TLS too (the connector's
`load_urls` with HTTPS BE endpoints, as behind a TLS proxy), each BE then also listens with TLS on its
`https_port`. That listener models such a proxy; it is not a StarRocks BE setting (not verified).

Faults that change the servers (`be_down`, one BE or all) are carried out here. A BE that goes down stays in
the FEs' routing, as until a real FE's heartbeat notices; its port refuses connections.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import shutil
import socket
import ssl
import tempfile
import threading
import time
from collections import Counter, OrderedDict
from dataclasses import replace
from typing import Any

from starrocks_emulator.be.rest import BEHandler
from starrocks_emulator.be.transactions import TransactionManager
from starrocks_emulator.faults import FaultBoard
from starrocks_emulator.fe.rest import FEHandler
from starrocks_emulator.fe.transactions_rest import CoordinatorCache
from starrocks_emulator.rest_base import EmulatorHTTPServer
from starrocks_emulator.storage.engine import Engine
from starrocks_emulator.topology import Node, Topology

log = logging.getLogger("starrocks_emulator")
ERROR_LOGS_KEPT = 500
# Request counters reported by GET /_emulator/stats, present (as 0) before the first request of their kind.
REQUEST_COUNTERS = (
    "fe_stream_load",
    "be_stream_load",
    "get_load_state",
    "txn_begin",  # txn_*: on FEs (every hop), be_txn_*: on BEs
    "txn_load",
    "txn_prepare",
    "txn_commit",
    "txn_rollback",
    "be_txn_begin",
    "be_txn_load",
    "be_txn_prepare",
    "be_txn_commit",
    "be_txn_rollback",
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


def _ports(ports: list[int] | None, count: int) -> list[int]:
    ports = list(ports or [])
    if len(ports) > count:
        raise ValueError(f"{len(ports)} ports given for {count} nodes")
    return ports + [0] * (count - len(ports))


class EmulatorServer:
    def __init__(
        self,
        engine: Engine,
        host: str = "127.0.0.1",
        frontends: int = 1,
        backends: int = 1,
        fe_http_ports: list[int] | None = None,
        fe_query_ports: list[int] | None = None,
        be_http_ports: list[int] | None = None,
        be_https_ports: list[int] | None = None,
        tls_cert: str | None = None,
        tls_key: str | None = None,
    ) -> None:
        if frontends < 1 or backends < 1:
            raise ValueError("a cluster needs at least one FE and one BE")
        self.engine = engine
        self.host = host
        self.advertised_host = "127.0.0.1" if host in ("0.0.0.0", "") else host
        self.tls = None
        if tls_cert and tls_key:
            self.tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self.tls.load_cert_chain(tls_cert, tls_key)
        self.scheme = "https" if self.tls else "http"
        ids = range(1, frontends + 1)
        fe_http, fe_query = _ports(fe_http_ports, frontends), _ports(fe_query_ports, frontends)
        be_http, be_https = _ports(be_http_ports, backends), _ports(be_https_ports, backends)
        host = self.advertised_host
        self._topology = Topology(
            tuple(Node("FE", i, host, fe_http[i - 1], fe_query[i - 1], leader=i == 1) for i in ids),
            tuple(
                Node("BE", i, host, be_http[i - 1], https_port=be_https[i - 1])
                for i in range(1, backends + 1)
            ),
        )
        self.faults = FaultBoard()
        self.error_logs = ErrorLogStore()
        self.spool_dir = tempfile.mkdtemp(
            prefix="sr_emulator_spool_", dir="/dev/shm" if os.path.isdir("/dev/shm") else None
        )
        self.txns = TransactionManager(engine, self.spool_dir)
        self.coordinators = CoordinatorCache()
        self._counts: Counter[str] = Counter(dict.fromkeys(REQUEST_COUNTERS, 0))
        self._counts_lock = threading.Lock()
        self._stop = threading.Event()
        self._servers: dict[tuple[str, int, str], EmulatorHTTPServer] = {}  # (role, id, scheme)
        self._servers_lock = threading.Lock()
        self._be_back_at: dict[int, float] = {}
        self._next_backend = itertools.count()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._mysql: list[Any] = []
        self.dead_be_port: int | None = None

    # ------------------------------------------------------------------ the cluster's shape
    @property
    def topology(self) -> Topology:
        return self._topology

    def _set_node(self, node: Node) -> None:
        nodes = self._topology.frontends if node.role == "FE" else self._topology.backends
        updated = tuple(node if n.id == node.id else n for n in nodes)
        if node.role == "FE":
            self._topology = replace(self._topology, frontends=updated)
        else:
            self._topology = replace(self._topology, backends=updated)

    def choose_backend(self) -> Node | None:
        """The next live BE in turn (fe `SystemInfoService.seqChooseBackendIds`), or None when none is alive."""
        alive = self._topology.alive_backends
        return alive[next(self._next_backend) % len(alive)] if alive else None

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        for fe in self._topology.frontends:
            server = self._serve(FEHandler, fe, fe.http_port, self.tls)
            self._set_node(replace(fe, http_port=server.server_address[1]))
        for be in self._topology.backends:
            server = self._serve(BEHandler, be, be.http_port, None)
            be = replace(be, http_port=server.server_address[1])
            if self.tls is not None:
                secure = self._serve(BEHandler, be, be.https_port, self.tls)
                be = replace(be, https_port=secure.server_address[1])
            self._set_node(be)
        self._start_query_ports()
        self.engine.topology = self._topology
        threading.Thread(target=self._housekeeping, name="txn-expiry", daemon=True).start()
        for fe in self._topology.frontends:
            role = "leader" if fe.leader else "follower"
            log.info("FE%d (%s) %s :%d, query :%d", fe.id, role, self.scheme, fe.http_port, fe.query_port)
        for be in self._topology.backends:
            https = f", https :{be.https_port}" if be.https_port else ""
            log.info("BE%d http :%d%s", be.id, be.http_port, https)

    def _serve(self, handler: type, node: Node, port: int, tls: ssl.SSLContext | None) -> EmulatorHTTPServer:
        server = EmulatorHTTPServer((self.host, port), handler, self, node, tls=tls is not None)
        if tls is not None:
            server.socket = tls.wrap_socket(server.socket, server_side=True, do_handshake_on_connect=False)
        name = f"{node.role}{node.id}-{'https' if tls else 'http'}"
        threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.1}, name=name, daemon=True
        ).start()
        with self._servers_lock:
            self._servers[(node.role, node.id, "https" if tls else "http")] = server
        return server

    def _start_query_ports(self) -> None:
        from starrocks_emulator.sql.mysql_frontend import serve_mysql

        self._loop = asyncio.new_event_loop()
        threading.Thread(target=self._loop.run_forever, name="query-ports", daemon=True).start()
        for fe in self._topology.frontends:
            future = asyncio.run_coroutine_threadsafe(
                serve_mysql(self.engine, self.host, fe.query_port, self.tls, be_host=self.advertised_host),
                self._loop,
            )
            mysql = future.result(timeout=30)
            self._mysql.append(mysql)
            sockets = getattr(getattr(mysql, "_server", None), "sockets", None) or []
            if not fe.query_port and sockets:
                self._set_node(replace(fe, query_port=sockets[0].getsockname()[1]))

    def stop(self) -> None:
        self._stop.set()
        with self._servers_lock:
            servers, self._servers = list(self._servers.values()), {}
        for server in servers:
            server.shutdown()
            server.server_close()
        if self._loop is not None:

            async def close() -> None:
                for mysql in self._mysql:
                    mysql.close()
                    await mysql.wait_closed()

            try:
                asyncio.run_coroutine_threadsafe(close(), self._loop).result(timeout=5)
            except Exception:  # noqa: BLE001 - shutting down anyway
                log.debug("query ports did not close cleanly")
            self._loop.call_soon_threadsafe(self._loop.stop)
        shutil.rmtree(self.spool_dir, ignore_errors=True)
        self.engine.close()

    def _housekeeping(self) -> None:
        while not self._stop.wait(EXPIRY_INTERVAL_S):
            try:
                for label in self.txns.expire():
                    log.info("transaction %s aborted by timeout", label)
                now = time.monotonic()
                for backend, back_at in list(self._be_back_at.items()):
                    if now >= back_at:
                        self.be_up(backend)
            except Exception:  # noqa: BLE001 - keep the housekeeper alive; the engine may be closing
                log.exception("housekeeping failed")

    # ------------------------------------------------------------------ faults acting on the servers
    def set_fault(self, name: str, **params: Any) -> dict:
        fault = self.faults.set(name, **params)
        if name == "be_down":
            self.be_down(float(params["seconds"]), fault.params.get("be"))
        if name == "fe_redirect_dead_be":
            self.dead_be_port = dead_port(self.advertised_host)
        return fault.describe()

    def clear_faults(self, name: str | None = None) -> None:
        self.faults.clear(name)
        if name in (None, "be_down"):
            for be in self._topology.backends:
                self.be_up(be.id)

    def be_down(self, seconds: float, backend: int | None = None) -> None:
        """Close a BE's listening sockets (every BE's when `backend` is None): connections are refused until
        `seconds` pass or faults are cleared."""
        for be in self._topology.backends:
            if backend is not None and be.id != backend:
                continue
            with self._servers_lock:
                self._be_back_at[be.id] = time.monotonic() + seconds
                down = [self._servers.pop(key) for key in list(self._servers) if key[:2] == ("BE", be.id)]
            for server in down:
                server.shutdown()
                server.server_close()
            if down:
                log.info("BE%d down for %.1fs", be.id, seconds)

    def be_up(self, backend: int) -> None:
        with self._servers_lock:
            self._be_back_at.pop(backend, None)
            if ("BE", backend, "http") in self._servers:
                return
        be = self._topology.backend(backend)
        self._serve(BEHandler, be, be.http_port, None)
        if be.https_port and self.tls is not None:
            self._serve(BEHandler, be, be.https_port, self.tls)
        log.info("BE%d back up", backend)

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

    def describe(self) -> dict[str, Any]:
        """Every node and its ports, as the READY line reports them."""
        return {
            "frontends": [
                {"id": fe.id, "leader": fe.leader, "http_port": fe.http_port, "query_port": fe.query_port}
                for fe in self._topology.frontends
            ],
            "backends": [
                {"id": be.id, "http_port": be.http_port, "https_port": be.https_port}
                for be in self._topology.backends
            ],
        }
